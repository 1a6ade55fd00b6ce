/**
 * The Socket.IO example as its tests run it: Redis, two Socket.IO servers
 * (examples/socketio/server.ts, each its own process) and wsgate with
 * examples/socketio/nginx.conf, changed only in its ports (substitute()
 * proves nothing else changed), or with the documentation's other sticky
 * method (ip_hash) switched on in place of `hash $remote_addr consistent`.
 * Clients connect from a chosen loopback source address (127.0.0.x), which
 * is what the sticky methods hash.
 */

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io, type Socket } from "socket.io-client";
import { startRedis, type RunningRedis } from "../../examples/shared/redis-server.js";
import { EXAMPLE_DIR, spawnSocketIoServer, type SpawnedServer } from "../../examples/socketio/start.js";
import type { ChatMessage } from "../../examples/socketio/server.js";
import { startNginx } from "../support/nginx.js";
import { freePorts, startWsgate } from "../support/proxy.js";
import { substitute, type Substitution } from "./run-example.js";

export type Sticky = "hash" | "ip_hash";
/** Which server runs the configuration: wsgate, or nginx itself for comparison. */
export type Proxy = "wsgate" | "nginx";

/** What the tests need of the proxy, either one. */
export interface RunningProxy {
  accessLog(): string;
  errorLog(): string;
  stop(): Promise<unknown>;
}

export interface SocketIoPorts {
  readonly listen: number;
  readonly a: number;
  readonly b: number;
}

/** examples/socketio/nginx.conf with the ports given and the sticky method chosen (two commented lines swapped). */
export function socketIoConf(ports: SocketIoPorts, sticky: Sticky = "hash"): string {
  const original = readFileSync(join(EXAMPLE_DIR, "nginx.conf"), "latin1");
  const substitutions: Substitution[] = [
    { pattern: /listen 3000;/, replacement: `listen ${ports.listen};`, count: 1 },
    { pattern: /server 127\.0\.0\.1:3001;/, replacement: `server 127.0.0.1:${ports.a};`, count: 1 },
    { pattern: /server 127\.0\.0\.1:3002;/, replacement: `server 127.0.0.1:${ports.b};`, count: 1 },
  ];
  if (sticky === "ip_hash") {
    substitutions.push(
      { pattern: /^( +)hash \$remote_addr consistent;/m, replacement: "$1# hash $remote_addr consistent;", count: 1 },
      { pattern: /^( +)# ip_hash;/m, replacement: "$1ip_hash;", count: 1 },
    );
  }
  return substitute(original, substitutions);
}

/** A prefix with the configuration and an empty logs/, for `-t` runs. */
export function confPrefix(conf: string): string {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-socketio-"));
  mkdirSync(join(prefix, "logs"));
  writeFileSync(join(prefix, "nginx.conf"), conf, "latin1");
  return prefix;
}

export interface RunningSocketIoExample {
  readonly url: string;
  readonly ports: SocketIoPorts;
  readonly proxy: RunningProxy;
  readonly servers: readonly SpawnedServer[];
  stop(): Promise<void>;
}

/** Redis, servers "a" and "b", the proxy; everything started is stopped if a later start fails. */
export async function startSocketIoExample(
  sticky: Sticky = "hash",
  proxyName: Proxy = "wsgate",
): Promise<RunningSocketIoExample> {
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const redis: RunningRedis = await startRedis();
    stops.push(() => redis.stop());
    const [listen, a, b] = await freePorts(3);
    const ports = { listen: listen!, a: a!, b: b! };
    // Both servers start at once (each takes a second or two to load Socket.IO and reach Redis).
    const started = await Promise.allSettled([
      spawnSocketIoServer("a", ports.a, redis.url),
      spawnSocketIoServer("b", ports.b, redis.url),
    ]);
    const servers: SpawnedServer[] = [];
    for (const result of started) {
      if (result.status === "fulfilled") {
        stops.push(() => result.value.stop());
        servers.push(result.value);
      }
    }
    for (const result of started) if (result.status === "rejected") throw result.reason;
    const conf = socketIoConf(ports, sticky);
    const proxy: RunningProxy =
      proxyName === "wsgate" ? await startWsgate({ conf }) : await startNginx({ conf, full: true });
    stops.push(() => proxy.stop());
    return { url: `http://127.0.0.1:${ports.listen}`, ports, proxy, servers, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export interface ChatClient {
  readonly socket: Socket;
  /** The instance that welcomed it. */
  readonly instance: string;
  /** The transport's name when the Engine.IO connection opened. */
  readonly openedOver: string;
  /** Every "message" received, in order. */
  readonly messages: ChatMessage[];
  /** Resolves with the first message received (from now) that satisfies `match`. */
  nextMessage(match: (message: ChatMessage) => boolean, ms?: number): Promise<ChatMessage>;
  join(room: string, ms?: number): Promise<{ instance: string }>;
  close(): void;
}

/** Reject after `ms` with what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A socket.io-client on "/chat" from `localAddress`; resolves once the server's "welcome" arrived. */
export async function connectChat(
  url: string,
  localAddress: string,
  transports: readonly ("polling" | "websocket")[] = ["polling", "websocket"],
  ms = 10_000,
): Promise<ChatClient> {
  // engine.io-client hands `agent` to both the polling requests and the WebSocket (ws); its type says string.
  const agent = new Agent({ localAddress } as ConstructorParameters<typeof Agent>[0]);
  const socket = io(`${url}/chat`, {
    agent: agent as unknown as string,
    transports: [...transports],
    forceNew: true,
    reconnection: false,
    timeout: ms,
  });
  const messages: ChatMessage[] = [];
  const waiters = new Set<(message: ChatMessage) => void>();
  socket.on("message", (message: ChatMessage) => {
    messages.push(message);
    for (const waiter of [...waiters]) waiter(message);
  });
  let openedOver = "";
  socket.io.on("open", () => (openedOver = socket.io.engine.transport.name));
  const welcome = await within(
    new Promise<{ instance: string }>((resolve, reject) => {
      socket.once("welcome", resolve);
      socket.once("connect_error", reject);
    }),
    ms,
    `the welcome of a client from ${localAddress}`,
  ).catch((error: unknown) => {
    socket.close();
    throw error;
  });
  return {
    socket,
    instance: welcome.instance,
    openedOver,
    messages,
    nextMessage: (match, wait = 10_000) => {
      let done: ((message: ChatMessage) => void) | undefined;
      const found = new Promise<ChatMessage>((resolve) => {
        done = (message) => {
          if (!match(message)) return;
          waiters.delete(done!);
          resolve(message);
        };
        waiters.add(done);
      });
      return within(found, wait, "a message").finally(() => waiters.delete(done!));
    },
    join: (room, wait = 10_000) =>
      within(
        new Promise<{ instance: string }>((resolve) => socket.emit("join", room, resolve)),
        wait,
        `the join of ${room}`,
      ),
    close: () => {
      socket.close();
      agent.destroy();
    },
  };
}

/**
 * Clients from 127.0.0.1, .2, … (at most `tries` addresses) until one landed on each of `instances`:
 * the sticky method hashes the source address. The others are closed. Rejects if an instance got none.
 */
export async function clientsOnEach(
  url: string,
  instances: readonly string[],
  transports?: readonly ("polling" | "websocket")[],
  tries = 24,
): Promise<Map<string, ChatClient & { address: string }>> {
  const found = new Map<string, ChatClient & { address: string }>();
  const seen: string[] = [];
  for (let host = 1; host <= tries && found.size < instances.length; host++) {
    const address = `127.0.0.${host}`;
    const client = await connectChat(url, address, transports);
    seen.push(`${address} → ${client.instance}`);
    if (instances.includes(client.instance) && !found.has(client.instance)) {
      found.set(client.instance, { ...client, address });
    } else {
      client.close();
    }
  }
  if (found.size < instances.length) {
    for (const client of found.values()) client.close();
    throw new Error(`no client landed on each of ${instances.join(", ")}: ${seen.join("; ")}`);
  }
  return found;
}
