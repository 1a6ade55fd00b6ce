/**
 * The differential harness: one configuration run under Debian's nginx and
 * under wsgate side by side, in front of one recording backend, so a test can
 * send the same bytes to both and compare what comes back, what the backend
 * saw, and what each wrote to its access log.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { freePort, WSGATE_BIN } from "../support/proxy.js";

/** The project root, from dist/test/differential/. */
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));

export function nginxPath(): string | undefined {
  return NGINX;
}

/** A raw backend that records request heads and answers by a rule. */
export interface RecordingBackend {
  readonly port: number;
  readonly heads: string[];
  /** Connections accepted so far (a request cut short leaves no head but a connection). */
  readonly connections: number;
  close(): Promise<void>;
}

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** On a loopback port, or on a unix socket at `path` (its `port` is then 0). */
export async function startRecordingBackend(path?: string): Promise<RecordingBackend> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buffered.toString("latin1", 0, end + 4);
      const bodyLength = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + bodyLength) return;
      // A chunked body is answered once its last chunk has arrived, as a real server would.
      if (/\r\ntransfer-encoding: *chunked/i.test(head) && !buffered.includes("\r\n0\r\n\r\n", end)) return;
      heads.push(head);
      buffered = Buffer.alloc(0);
      answer(socket, head);
    });
  });
  if (path !== undefined) await new Promise<void>((done) => server.listen(path, done));
  else await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    heads,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** 101 for a WebSocket handshake (then a text frame "hi"), else 200 with a body naming the path. */
function answer(socket: Socket, head: string): void {
  const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(head)?.[1];
  if (key && /\r\nupgrade: *websocket/i.test(head)) {
    const accept = createHash("sha1")
      .update(key + WS_GUID)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.end(Buffer.from([0x81, 0x02, 0x68, 0x69, 0x88, 0x00]));
    return;
  }
  const path = head.split(" ")[1] ?? "";
  const body = `path=${path}\n`;
  socket.end(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend: yes\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export interface Peer {
  readonly name: "nginx" | "wsgate";
  readonly port: number;
  readonly prefix: string;
  accessLog(): string;
  errorLog(): string;
  /** A file under the prefix's logs/ (relative log paths resolve against the prefix). */
  readLog(name: string): string;
  stop(): Promise<void>;
}

/**
 * Start `name` with `httpBody` (the inside of the http block, with PORT for
 * the peer's own listening port) in a fresh prefix.
 */
export async function startPeer(name: "nginx" | "wsgate", httpBody: string): Promise<Peer> {
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-diff-${name}-`));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  const conf = [
    `pid ${join(prefix, "logs", "nginx.pid")};`,
    `error_log ${join(prefix, "logs", "error.log")} info;`,
    `events { worker_connections 64; }`,
    `http {`,
    `  log_format main '$remote_addr - $remote_user [$time_local] "$request" '`,
    `                  '$status $body_bytes_sent "$http_referer" '`,
    `                  '"$http_user_agent" "$http_x_forwarded_for"';`,
    `  access_log ${join(prefix, "logs", "access.log")} main;`,
    httpBody.replaceAll("PORT", String(port)),
    `}`,
  ].join("\n");
  writeFileSync(join(prefix, "nginx.conf"), conf);
  const args = ["-p", prefix + "/", "-c", join(prefix, "nginx.conf"), "-g", "daemon off; master_process off;"];
  const child: ChildProcess =
    name === "nginx"
      ? spawn(NGINX!, ["-e", join(prefix, "logs", "error.log"), ...args], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(process.execPath, [WSGATE_BIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await waitForPort(port, child, () => stderr);
  return {
    name,
    port,
    prefix,
    accessLog: () => readFileSync(join(prefix, "logs", "access.log"), "latin1"),
    errorLog: () => readFileSync(join(prefix, "logs", "error.log"), "latin1"),
    readLog: (name) => readFileSync(join(prefix, "logs", name), "latin1"),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once("exit", done));
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

/** Resolves once `port` accepts connections; throws (and kills the child) if it exits or 5 s pass. */
export async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr()}`);
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        done(true);
      });
      socket.once("error", () => done(false));
    });
    if (ok) return;
    await new Promise((done) => setTimeout(done, 25));
  }
  child.kill("SIGKILL");
  throw new Error(`server did not listen on ${port}: ${stderr()}`);
}

/** The status line and the headers of a reply, minus those that differ by nature (Date, Server). */
export function comparableHead(reply: Buffer): string[] {
  const text = reply.toString("latin1");
  const head = text.slice(0, text.indexOf("\r\n\r\n"));
  return head.split("\r\n").filter((line) => !/^(date|server):/i.test(line));
}

/** Access-log lines with the time field blanked. */
export function comparableLog(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.replace(/\[[^\]]+\]/, "[TIME]"));
}

/** Error-log lines at [error] and above, without time, pid and connection number. */
export function comparableErrors(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => / \[(error|crit|alert|emerg)\] /.test(line))
    .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 "));
}

export function nginxRuns(): boolean {
  if (!NGINX) return false;
  return spawnSync(NGINX, ["-v"]).status === 0;
}

/** A suite's `skip` option: false where Debian's nginx runs, else why the comparison cannot run. */
export function skipWithoutNginx(): string | false {
  return nginxRuns() ? false : "Debian's nginx is not installed (scripts/install-test-deps.sh installs it)";
}

/**
 * For a describe(): nginx and wsgate with the same configuration. Before the
 * suite, `setUp` starts what the configuration points at (backends) and
 * returns the http block's text; both proxies start with it. After the suite
 * the proxies stop, then `tearDown` stops the rest.
 */
export function peersWith(
  setUp: () => Promise<string>,
  tearDown: () => Promise<void> = async () => undefined,
): Partial<Record<"nginx" | "wsgate", Peer>> {
  const peers: Partial<Record<"nginx" | "wsgate", Peer>> = {};
  before(async () => {
    const conf = await setUp();
    peers.nginx = await startPeer("nginx", conf);
    peers.wsgate = await startPeer("wsgate", conf);
  });
  after(async () => {
    await peers.nginx?.stop();
    await peers.wsgate?.stop();
    await tearDown();
  });
  return peers;
}

export interface ScriptedBackend {
  readonly port: number;
  close(): Promise<void>;
}

/** A backend that answers each request head with the bytes scripted for its path, then closes. */
export function startScriptedBackend(scripts: Readonly<Record<string, string>>): Promise<ScriptedBackend> {
  return listenTracked((socket) => {
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      const path = head.split(" ")[1] ?? "";
      socket.end(scripts[path] ?? "HTTP/1.1 500 Unknown Script\r\nContent-Length: 0\r\n\r\n", "latin1");
    });
  });
}

/** A loopback server whose sockets are all destroyed when it closes: the shell of the suites' backends. */
export async function listenTracked(
  onSocket: (socket: Socket) => void,
  options: { readonly pauseOnConnect?: boolean } = {},
): Promise<ScriptedBackend> {
  const sockets = new Set<Socket>();
  const server: Server = createServer(options, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    onSocket(socket);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no port");
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/**
 * A peer's log file once it has stopped growing (no new line for 300 ms, at most 3 s): either
 * proxy writes a request's line after the response is sent, so the client may hold the last
 * response before its line is in the file.
 */
export async function settledLog(peer: Peer, name: string): Promise<string[]> {
  const read = (): string[] => {
    try {
      return peer.readLog(name).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const deadline = Date.now() + 3000;
  let lines = read();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = read();
    if (now.length === lines.length || Date.now() > deadline) return now;
    lines = now;
  }
}
