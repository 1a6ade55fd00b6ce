/**
 * WebSocket peers for the tunnel-feature tests: raw ones that write frames
 * byte by byte as a test says and keep every frame they get (a client that
 * never answers pings, a backend that sends what a rule forbids), and `ws`
 * ones (an echo backend, with or without permessage-deflate). A wsgate
 * configuration with one proxied location around the features under test.
 * Every wait is bounded.
 */

import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { frame } from "../support/ws-frame.js";
import { until, withTimeout } from "../support/wait.js";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked. */
  readonly payload: Buffer;
}

/** Frames parsed from a byte stream (masked or not), and the raw bytes. */
export class FrameLog {
  readonly frames: Frame[] = [];
  raw = Buffer.alloc(0);
  private rest = Buffer.alloc(0);
  ended = false;

  push(chunk: Buffer): void {
    this.raw = Buffer.concat([this.raw, chunk]);
    this.rest = Buffer.concat([this.rest, chunk]);
    for (;;) {
      const parsed = parseFrame(this.rest);
      if (!parsed) return;
      this.frames.push(parsed.frame);
      this.rest = this.rest.subarray(parsed.size);
    }
  }

  /** The first frame with `opcode` (after `from` frames), within `ms`. */
  async next(opcode: number, ms = 5000, from = 0): Promise<Frame> {
    return until(() => this.frames.slice(from).find((f) => f.opcode === opcode), ms, `a frame with opcode ${opcode}`);
  }

  closeCode(): number | undefined {
    const close = this.frames.find((f) => f.opcode === 8);
    return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
  }
}

export function parseFrame(buf: Buffer): { frame: Frame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1]! & 0x80) !== 0;
  let length = buf[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = buf.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    length = Number(buf.readBigUInt64BE(2));
    at = 10;
  }
  const key = masked ? buf.subarray(at, at + 4) : undefined;
  if (masked) at += 4;
  if (buf.length < at + length) return undefined;
  const payload = Buffer.from(buf.subarray(at, at + length));
  if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
  return {
    frame: { fin: (buf[0]! & 0x80) !== 0, opcode: buf[0]! & 0x0f, masked, payload },
    size: at + length,
  };
}

/** A client frame (masked); `fin` false for a fragment. */
export function clientFrame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  return frame(opcode, Buffer.from(payload), randomBytes(4), fin);
}

/** A server frame (unmasked). */
export function serverFrame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  return frame(opcode, Buffer.from(payload), undefined, fin);
}

export function closePayload(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return payload;
}

export interface RawPeer {
  readonly socket: Socket;
  /** What came to this peer, as frames. */
  readonly got: FrameLog;
  /** The socket closed (both ways). */
  readonly closed: Promise<void>;
}

/** A raw client through wsgate: the handshake done, then frames as the test writes them. */
export async function rawClient(port: number, path = "/"): Promise<RawPeer> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  const got = new FrameLog();
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  let head = Buffer.alloc(0);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", () =>
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.removeListener("data", onData);
        if (!head.subarray(0, 12).toString().includes("101")) {
          reject(new Error(`no 101: ${head.toString("latin1")}`));
          return;
        }
        socket.on("data", (more: Buffer) => got.push(more));
        got.push(head.subarray(end + 4));
        resolve();
      };
      socket.on("data", onData);
      socket.once("close", () => reject(new Error("closed before the 101")));
    }),
    5000,
    "the 101",
  );
  socket.once("end", () => (got.ended = true));
  return { socket, got, closed };
}

export interface RawBackend {
  readonly port: number;
  /** The tunnels' upstream sides, in order of their handshakes. */
  readonly peers: RawPeer[];
  close(): Promise<void>;
}

/** A backend that answers every handshake with a 101, then keeps the frames it gets and writes only what a test tells it. */
export async function rawBackend(): Promise<RawBackend> {
  const peers: RawPeer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("close", () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.removeListener("data", onData);
      const key = /sec-websocket-key: *([^\r]+)/i.exec(head.toString("latin1"))?.[1] ?? "";
      const accept = createHash("sha1")
        .update(key + GUID)
        .digest("base64");
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      const got = new FrameLog();
      socket.once("end", () => (got.ended = true));
      socket.on("data", (more: Buffer) => got.push(more));
      got.push(head.subarray(end + 4));
      peers.push({ socket, got, closed: new Promise((resolve) => socket.once("close", () => resolve())) });
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    peers,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface EchoBackend {
  readonly port: number;
  /** Messages the backend received, as text, in order. */
  readonly received: string[];
  /** Close codes the backend got, in order. */
  readonly closeCodes: number[];
  /** Pings and pongs the backend's sockets got (payloads as text). */
  readonly pings: string[];
  readonly pongs: string[];
  readonly sockets: Set<WebSocket>;
  close(): Promise<void>;
}

/** A `ws` echo backend (`perMessageDeflate` as given): every message back as it came. */
export async function echoBackend(
  perMessageDeflate: boolean | object = false,
  answerPings = true,
): Promise<EchoBackend> {
  const http: HttpServer = createHttpServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate, autoPong: answerPings });
  const backend: EchoBackend = {
    port: 0,
    received: [],
    closeCodes: [],
    pings: [],
    pongs: [],
    sockets: new Set(),
    close: async () => {
      for (const ws of backend.sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  wss.on("connection", (ws) => {
    backend.sockets.add(ws);
    ws.on("error", () => undefined);
    ws.on("message", (data, binary) => {
      const text = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      backend.received.push(text.toString());
      ws.send(text, { binary });
    });
    ws.on("ping", (data) => backend.pings.push(data.toString()));
    ws.on("pong", (data) => backend.pongs.push(data.toString()));
    ws.on("close", (code) => {
      backend.closeCodes.push(code);
      backend.sockets.delete(ws);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  (backend as { port: number }).port = (http.address() as { port: number }).port;
  return backend;
}

/** An access-log format named `ws` with every per-tunnel variable. */
export const TUNNEL_LOG_FORMAT =
  "log_format ws '$request_uri $status m=$wsgate_messages_from_client/$wsgate_messages_from_upstream " +
  "b=$wsgate_bytes_from_client/$wsgate_bytes_from_upstream code=$wsgate_close_code by=$wsgate_closed_by rtt=$wsgate_ping_rtt';";

/** A location's lines that proxy WebSockets to `backend`. */
export function wsProxy(backend: number): string {
  return `proxy_pass http://127.0.0.1:${backend}; proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`;
}

/** nginx.conf with one server on `port` (its body `server`) logging to logs/ws.log in TUNNEL_LOG_FORMAT. */
export function loggedConf(port: number, server: string): string {
  return `pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
  ${TUNNEL_LOG_FORMAT}
  server {
    listen 127.0.0.1:${port};
    access_log logs/ws.log ws;
    ${server}
  }
}
`;
}

/** nginx.conf with one server on `port` whose location / proxies WebSockets to `backend`, with `features` in it. */
export function featureConf(port: number, backend: number, features: string, http = ""): string {
  return `pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
  access_log logs/access.log;
  ${http}
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${backend};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      ${features}
    }
  }
}
`;
}

/** The close code a `ws` client gets, within `ms`. */
export function closeCodeOf(ws: WebSocket, ms = 8000): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => ws.once("close", (code) => resolve(code))),
    ms,
    "the client's close",
  );
}

/** One message there and back on a `ws` client. */
export function echo(ws: WebSocket, text: string, ms = 5000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      ws.once("message", (data) => resolve(Buffer.from(data as Buffer).toString()));
      ws.send(text);
    }),
    ms,
    `the echo of ${text}`,
  );
}
