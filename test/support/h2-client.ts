/**
 * HTTP/2 clients for tests, on Node's http2 module: whole requests (status,
 * headers, body), and WebSocket over HTTP/2 (RFC 8441) — an extended CONNECT
 * stream with frames masked as a client masks them and a reader of the
 * server's frames. Every wait is bounded.
 */

import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from "node:http2";
import { randomBytes } from "node:crypto";
import { withTimeout } from "./wait.js";
import { frame } from "./ws-frame.js";

export interface H2Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A session to `url` ("http://127.0.0.1:PORT" for h2c, "https://…" for h2), its settings received. */
export async function h2Session(url: string, options: Parameters<typeof connect>[1] = {}): Promise<ClientHttp2Session> {
  const session = connect(url, options);
  session.on("error", () => undefined);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      session.once("error", reject);
    }),
    5000,
    `HTTP/2 settings from ${url}`,
  );
  return session;
}

/** One request on `session`; `body` is sent as DATA (no content-length unless given in headers). */
export async function h2Request(
  session: ClientHttp2Session,
  headers: Record<string, string | string[]>,
  body?: Buffer | string,
  timeoutMs = 10_000,
): Promise<H2Response> {
  const stream = session.request({ ":method": "GET", ...headers }, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  return readResponse(stream, timeoutMs);
}

export function readResponse(stream: ClientHttp2Stream, timeoutMs = 10_000): Promise<H2Response> {
  return withTimeout(
    new Promise<H2Response>((resolve, reject) => {
      let status = 0;
      let responseHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        responseHeaders = h;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) }));
      stream.on("error", reject);
      stream.on("close", () => {
        if (stream.rstCode !== constants.NGHTTP2_NO_ERROR && status === 0) {
          reject(new Error(`stream reset with code ${stream.rstCode}`));
        }
      });
    }),
    timeoutMs,
    "an HTTP/2 response",
  );
}

/** A client frame: FIN set, masked. */
export function clientFrame(opcode: number, payload: Buffer | string): Buffer {
  return frame(opcode, typeof payload === "string" ? Buffer.from(payload) : payload, randomBytes(4));
}

export interface ServerFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** Reads the server's (unmasked) frames from a stream. */
export class FrameReader {
  private buffered = Buffer.alloc(0);
  private readonly frames: ServerFrame[] = [];
  private waiter: (() => void) | undefined;
  ended = false;

  constructor(stream: ClientHttp2Stream) {
    stream.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.parse();
      this.waiter?.();
    });
    stream.on("end", () => {
      this.ended = true;
      this.waiter?.();
    });
    stream.on("close", () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  async next(timeoutMs = 5000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.ended) throw new Error("the stream ended before a frame came");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no frame came in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.frames.shift()!;
  }

  private parse(): void {
    for (;;) {
      const buf = this.buffered;
      if (buf.length < 2) return;
      let length = buf[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buf.length < 4) return;
        length = buf.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (buf.length < 10) return;
        length = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf.length < at + length) return;
      this.frames.push({ fin: (buf[0]! & 0x80) !== 0, opcode: buf[0]! & 0x0f, payload: buf.subarray(at, at + length) });
      this.buffered = buf.subarray(at + length);
    }
  }
}

export interface H2WebSocket {
  readonly stream: ClientHttp2Stream;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly frames: FrameReader;
  /** Send a text message (one masked frame). */
  send(text: string | Buffer, opcode?: number): void;
}

/** An extended CONNECT for a WebSocket on `session` (its peer must have sent SETTINGS_ENABLE_CONNECT_PROTOCOL). */
export async function h2WebSocket(
  session: ClientHttp2Session,
  path = "/",
  headers: Record<string, string> = {},
): Promise<H2WebSocket> {
  const stream = session.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":path": path,
    "sec-websocket-version": "13",
    ...headers,
  });
  stream.on("error", () => undefined);
  const frames = new FrameReader(stream);
  const response = await withTimeout(
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
      stream.once("close", () => reject(new Error(`the stream closed first (code ${stream.rstCode})`)));
    }),
    5000,
    "the answer to an extended CONNECT",
  );
  return {
    stream,
    status: Number(response[":status"]),
    headers: response,
    frames,
    send: (text, opcode = 1) => stream.write(clientFrame(opcode, text)),
  };
}
