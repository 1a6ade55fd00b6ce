/**
 * A recording upstream for proxy tests: a raw `net` server on 127.0.0.1 that
 * keeps the exact bytes of every request head (and body) it receives, in
 * order, across keep-alive and pipelined requests, and answers each one:
 *
 * - by default, a WebSocket handshake (GET with `Upgrade: websocket`) goes to
 *   a `ws` WebSocketServer (noServer, handleUpgrade) whose sockets echo every
 *   message as `Server received from client: <msg>`;
 * - anything else gets `200 OK` with Content-Type, Content-Length and the
 *   body DEFAULT_BODY (no body for HEAD).
 *
 * A test changes that with `handler` (at start or later through
 * `backend.handler = ...`): it may return a response to write, "websocket",
 * "hold" (never answer: for 499/timeout tests), or take the socket over.
 */

import { createServer, type Server, type Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import type { IncomingMessage } from "node:http";

export const DEFAULT_BODY = "hello from backend\n";
export const ECHO_PREFIX = "Server received from client: ";

export interface RecordedRequest {
  /** The head exactly as received (latin1), request line to the blank line included. */
  readonly head: string;
  readonly method: string;
  readonly target: string;
  /** "HTTP/1.1", "HTTP/1.0", ... ("" when the request line has none). */
  readonly version: string;
  /** Header fields in order, names as sent. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body, chunked framing removed. */
  readonly body: Buffer;
  /** The body bytes exactly as received (chunk sizes and trailers included). */
  readonly rawBody: Buffer;
  /** Which connection (0, 1, ...) and which request on it (0, 1, ...). */
  readonly connection: number;
  readonly index: number;
}

/** The first value of a header (case-insensitive name), or undefined. */
export function header(request: Pick<RecordedRequest, "headers">, name: string): string | undefined {
  const lower = name.toLowerCase();
  return request.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

export interface BackendResponse {
  status?: number;
  reason?: string;
  /** In order, written as given. Content-Length is added for `body` unless a header names a length or chunking. */
  headers?: Array<[string, string]>;
  body?: string | Buffer;
  /** Bytes written as they are instead of status/headers/body. */
  raw?: string | Buffer;
  /** End the connection after the response (FIN). */
  close?: boolean;
  /** Milliseconds to wait before answering. */
  delayMs?: number;
}

export interface Takeover {
  /** Take the socket: no more parsing on it. `rest` holds bytes received after this request. */
  takeover: (socket: Socket, rest: Buffer) => void;
}

export type HandlerResult = BackendResponse | Takeover | "websocket" | "hold" | "destroy";

export type BackendHandler = (request: RecordedRequest, socket: Socket) => HandlerResult | Promise<HandlerResult>;

export interface RecordingBackend {
  readonly port: number;
  /** Every complete request, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes received on connections that were closed before a whole request head arrived ("" when none). */
  readonly partials: string[];
  /** Open WebSocket connections made through the default "websocket" answer. */
  readonly websockets: Set<WebSocket>;
  /** Messages (text as string, binary as Buffer) the WebSocket server received, in order. */
  readonly messages: Array<string | Buffer>;
  handler: BackendHandler;
  close(): Promise<void>;
}

export function isWebSocketHandshake(request: RecordedRequest): boolean {
  return request.method === "GET" && (header(request, "upgrade") ?? "").toLowerCase() === "websocket";
}

export const defaultHandler: BackendHandler = (request) => {
  if (isWebSocketHandshake(request)) return "websocket";
  return {
    status: 200,
    headers: [["Content-Type", "text/plain"]],
    body: DEFAULT_BODY,
  };
};

const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  426: "Upgrade Required",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** The bytes of a response (HEAD gets the head only). */
export function serializeResponse(response: BackendResponse, method = "GET"): Buffer {
  if (response.raw !== undefined) return Buffer.from(response.raw as string, "latin1");
  const status = response.status ?? 200;
  const body = response.body === undefined ? undefined : Buffer.from(response.body as string, "latin1");
  const headers = [...(response.headers ?? [])];
  const framed = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (body !== undefined && !framed) headers.push(["Content-Length", String(body.length)]);
  const head =
    `HTTP/1.1 ${status} ${response.reason ?? REASONS[status] ?? "Status"}\r\n` +
    headers.map(([name, value]) => `${name}: ${value}\r\n`).join("") +
    "\r\n";
  const parts = [Buffer.from(head, "latin1")];
  if (body !== undefined && method !== "HEAD") parts.push(body);
  return Buffer.concat(parts);
}

interface ParsedHead {
  head: string;
  method: string;
  target: string;
  version: string;
  headers: Array<[string, string]>;
}

function parseHead(head: string): ParsedHead {
  const lines = head.slice(0, -4).split("\r\n");
  const [method = "", target = "", version = ""] = (lines[0] ?? "").split(" ");
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon === -1) headers.push([line, ""]);
    else headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { head, method, target, version, headers };
}

/** Parse a chunked body starting at `from`: decoded body and the offset after it, or undefined if incomplete. */
export function parseChunked(buffer: Buffer, from: number): { body: Buffer; end: number } | undefined {
  const chunks: Buffer[] = [];
  let at = from;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd === -1) return undefined;
    const sizeText = buffer.toString("latin1", at, lineEnd).split(";")[0]?.trim() ?? "";
    const size = Number.parseInt(sizeText, 16);
    if (!/^[0-9a-fA-F]+$/.test(sizeText) || Number.isNaN(size))
      throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailer fields, then the blank line.
      for (;;) {
        const end = buffer.indexOf("\r\n", at);
        if (end === -1) return undefined;
        const empty = end === at;
        at = end + 2;
        if (empty) return { body: Buffer.concat(chunks), end: at };
      }
    }
    if (buffer.length < at + size + 2) return undefined;
    chunks.push(buffer.subarray(at, at + size));
    at += size + 2;
  }
}

export async function startRecordingBackend(opts: { handler?: BackendHandler } = {}): Promise<RecordingBackend> {
  const requests: RecordedRequest[] = [];
  const partials: string[] = [];
  const sockets = new Set<Socket>();
  const websockets = new Set<WebSocket>();
  const messages: Array<string | Buffer> = [];
  let connections = 0;

  const wss = new WebSocketServer({ noServer: true });
  wss.on("connection", (ws: WebSocket) => {
    websockets.add(ws);
    ws.on("close", () => websockets.delete(ws));
    ws.on("error", () => undefined);
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (isBinary) {
        messages.push(bytes);
        ws.send(Buffer.concat([Buffer.from(ECHO_PREFIX), bytes]), { binary: true });
      } else {
        const text = bytes.toString("utf8");
        messages.push(text);
        ws.send(ECHO_PREFIX + text);
      }
    });
  });

  const backend: RecordingBackend = {
    port: 0,
    requests,
    partials,
    websockets,
    messages,
    handler: opts.handler ?? defaultHandler,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const ws of websockets) ws.terminate();
      for (const socket of sockets) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server: Server = createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    socket.on("error", () => socket.destroy());
    let buffered = Buffer.alloc(0);
    let index = 0;
    let busy = false; // a handler is running; later requests wait in `buffered`
    let done = false; // the socket was taken over, upgraded, or held

    socket.on("close", () => {
      sockets.delete(socket);
      if (!done && buffered.length > 0) partials.push(buffered.toString("latin1"));
    });

    const pump = async (): Promise<void> => {
      if (busy || done) return;
      busy = true;
      try {
        while (!done) {
          const end = buffered.indexOf("\r\n\r\n");
          if (end === -1) break;
          const parsed = parseHead(buffered.toString("latin1", 0, end + 4));
          const bodyStart = end + 4;
          let body: Buffer;
          let bodyEnd: number;
          const chunked = /(^|,)\s*chunked\s*$/i.test(header(parsed, "transfer-encoding") ?? "");
          if (chunked) {
            let result: { body: Buffer; end: number } | undefined;
            try {
              result = parseChunked(buffered, bodyStart);
            } catch {
              socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
              done = true;
              break;
            }
            if (result === undefined) break;
            body = result.body;
            bodyEnd = result.end;
          } else {
            const length = Number(header(parsed, "content-length") ?? 0);
            if (buffered.length < bodyStart + length) break;
            body = buffered.subarray(bodyStart, bodyStart + length);
            bodyEnd = bodyStart + length;
          }
          const request: RecordedRequest = {
            ...parsed,
            body: Buffer.from(body),
            rawBody: Buffer.from(buffered.subarray(bodyStart, bodyEnd)),
            connection,
            index: index++,
          };
          buffered = buffered.subarray(bodyEnd);
          requests.push(request);
          await answer(request);
        }
      } finally {
        busy = false;
      }
    };

    const answer = async (request: RecordedRequest): Promise<void> => {
      const result = await backend.handler(request, socket);
      if (socket.destroyed) {
        done = true;
        return;
      }
      if (result === "hold") {
        done = true;
        return;
      }
      if (result === "destroy") {
        done = true;
        socket.destroy();
        return;
      }
      if (result === "websocket" || (typeof result === "object" && "takeover" in result)) {
        done = true;
        const rest = buffered;
        buffered = Buffer.alloc(0);
        socket.removeListener("data", onData);
        if (result === "websocket") {
          const req = {
            method: request.method,
            url: request.target,
            headers: Object.fromEntries(request.headers.map(([name, value]) => [name.toLowerCase(), value])),
            socket,
          } as unknown as IncomingMessage;
          wss.handleUpgrade(req, socket, rest, (ws) => wss.emit("connection", ws, req));
        } else {
          result.takeover(socket, rest);
        }
        return;
      }
      if (result.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, result.delayMs));
      if (socket.destroyed) {
        done = true;
        return;
      }
      const bytes = serializeResponse(result, request.method);
      if (result.close) {
        done = true;
        socket.end(bytes);
      } else {
        socket.write(bytes);
      }
    };

    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      void pump();
    };
    socket.on("data", onData);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("startRecordingBackend: no port");
  Object.defineProperty(backend, "port", { value: address.port });
  return backend;
}
