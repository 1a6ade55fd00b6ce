/**
 * Helpers for the process tests: named `ws` echo backends, WebSocket clients
 * with bounded waits, a configuration writer for the master/worker model, and
 * the worker PIDs the error log names.
 */

import * as assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request } from "node:http";
import { join } from "node:path";
import { WebSocket, WebSocketServer } from "ws";
import type { WsgateProcess } from "../support/proxy.js";
import { withTimeout } from "../support/wait.js";
export { openWs } from "../support/sockets.js";

export interface EchoBackend {
  readonly port: number;
  readonly name: string;
  /** Close codes the backend received from wsgate, in order. */
  readonly closeCodes: number[];
  /** Resolves once `count` plain HTTP requests for `url` have arrived (counting those before the call), within `ms`. */
  requested(url: string, count?: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A ws server answering every message with "NAME:message"; plain HTTP
 * requests get "NAME PATH", after the milliseconds of `?delay=MS`.
 */
export async function echoBackend(name: string): Promise<EchoBackend> {
  const arrivals = new EventEmitter();
  const urls: string[] = [];
  const http = createHttpServer((request, response) => {
    urls.push(request.url ?? "");
    arrivals.emit("request");
    const delay = Number(/[?&]delay=(\d+)/.exec(request.url ?? "")?.[1] ?? 0);
    setTimeout(() => response.end(`${name} ${request.url ?? ""}`), delay);
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", resolve);
  });
  const server = new WebSocketServer({ server: http, perMessageDeflate: false });
  const closeCodes: number[] = [];
  server.on("connection", (socket) => {
    socket.on("message", (data) => socket.send(`${name}:${String(data)}`));
    socket.on("close", (code) => closeCodes.push(code));
    socket.on("error", () => undefined);
  });
  const address = http.address();
  assert.ok(address && typeof address === "object");
  return {
    port: address.port,
    name,
    closeCodes,
    requested: async (url, count = 1, ms = 5000) => {
      const arrived = (): boolean => urls.filter((seen) => seen === url).length >= count;
      if (arrived()) return;
      let listener = (): void => undefined;
      try {
        await withTimeout(
          new Promise<void>((resolve) => {
            listener = () => {
              if (arrived()) resolve();
            };
            arrivals.on("request", listener);
          }),
          ms,
          `${count} request(s) for ${url} at backend ${name}`,
        );
      } finally {
        arrivals.off("request", listener);
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

/** Send one message and wait for the next one, within `ms`. */
export function roundTrip(ws: WebSocket, text: string, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to "${text}" within ${ms} ms`)), ms);
    ws.once("message", (data) => {
      clearTimeout(timer);
      resolve(String(data));
    });
    ws.send(text);
  });
}

/** The close code a WebSocket receives (1006: closed without a close frame), within `ms`. */
export function closeCode(ws: WebSocket, ms = 10_000): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${ms} ms`)), ms);
    ws.once("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A main context for the process tests: foreground, info-level error log, the given extras. */
export function processConf(main: string, http: string, events = ""): string {
  return `${main}\nerror_log logs/error.log info;\nevents { ${events} }\nhttp {\naccess_log off;\n${http}\n}\n`;
}

/** A proxy server block to `backendPort` on 127.0.0.1:`port`. */
export function proxyServer(port: number, backendPort: number): string {
  return `server {
  listen 127.0.0.1:${port};
  location / {
    proxy_pass http://127.0.0.1:${backendPort};
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
  }
}`;
}

/** PIDs of "start worker process N" lines, in order. */
export function startedWorkers(log: string): number[] {
  return [...log.matchAll(/start worker process (\d+)/g)].map((m) => Number(m[1]));
}

export function writeConf(prefix: string, text: string): void {
  writeFileSync(join(prefix, "nginx.conf"), text, "latin1");
}

/** Whether `pid` is alive (signal 0), zombies counted as gone. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "latin1"));
  } catch {
    return false;
  }
}

/**
 * Which of `pids` holds the connection a client made from local port
 * `clientPort` to wsgate's `port` (the kernel chose the worker that accepted
 * it): the socket's inode from /proc/net/tcp, then the process whose
 * descriptors include it. Undefined when none does (yet).
 */
export function holderOf(port: number, clientPort: number, pids: readonly number[]): number | undefined {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, "0");
  let inode: string | undefined;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "latin1").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex(port)}`) && fields[2]?.endsWith(`:${hex(clientPort)}`)) inode = fields[9];
    }
  }
  if (inode === undefined) return undefined;
  const link = `socket:[${inode}]`;
  for (const pid of pids) {
    const dir = `/proc/${pid}/fd`;
    for (const fd of readdirSync(dir)) {
      try {
        if (readlinkSync(`${dir}/${fd}`) === link) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** Kill every wsgate process in `pids` still alive (SIGKILL), checking its command line first: for `after` hooks. */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      if (pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("wsgate")) process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** A GET through wsgate with node:http: status and body, or an error after `ms`. */
export function httpGet(port: number, path: string, ms = 15_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path }, (response) => {
      let body = "";
      response.setEncoding("latin1");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.setTimeout(ms, () => req.destroy(new Error(`no response within ${ms} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** A wsgate master with its backend, as the process tests start them. */
export interface Started {
  readonly wsgate: WsgateProcess;
  readonly backend: EchoBackend;
}

/** Stops each master with `signal`, kills any worker its log names (even if the master could not), closes its backend. */
export async function stopStarted(started: readonly Started[], signal: NodeJS.Signals): Promise<void> {
  for (const { wsgate, backend } of started) {
    const workers = startedWorkers(wsgate.errorLog());
    await wsgate.stop(signal);
    killAll(workers);
    await backend.close();
  }
}
