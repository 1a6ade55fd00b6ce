/**
 * Raw-socket tools for the end-to-end tests: an HTTP/1.x message reader that
 * works on either side of the proxy (requests at a backend, responses at a
 * client), raw backends and clients, WebSocket frames built and read by hand,
 * and the seed's configuration with free ports.
 */

import { createHash } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface Head {
  /** "GET / HTTP/1.1" or "HTTP/1.1 200 OK". */
  readonly startLine: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The head's text, blank line included. */
  readonly raw: string;
}

export interface Message extends Head {
  readonly body: Buffer;
  readonly framing: "none" | "length" | "chunked" | "close";
}

/** Every value of a header (case-insensitive name). */
export function headerValues(head: Head, name: string): string[] {
  const lower = name.toLowerCase();
  return head.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** The only value of a header, undefined when absent; throws when repeated. */
export function header(head: Head, name: string): string | undefined {
  const values = headerValues(head, name);
  if (values.length > 1) throw new Error(`${name} appears ${values.length} times in ${head.raw}`);
  return values[0];
}

export function statusOf(head: Head): number {
  const match = /^HTTP\/1\.[01] (\d{3}) /.exec(head.startLine);
  if (!match) throw new Error(`not a status line: ${JSON.stringify(head.startLine)}`);
  return Number(match[1]);
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Reject after `ms` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

const EMPTY: Buffer = Buffer.alloc(0);

/** Buffers what a socket receives and hands it out as heads, lines, byte counts and messages. */
export class WireReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private waiters: Array<() => void> = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  constructor(
    readonly socket: Socket,
    private readonly timeoutMs = 5000,
  ) {
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.wake();
    });
    const finish = (): void => {
      this.ended = true;
      this.wake();
    };
    socket.on("end", finish);
    socket.on("error", finish);
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        finish();
        resolve();
      }),
    );
  }

  /** Bytes received and not handed out yet. */
  get available(): number {
    return this.size;
  }

  /** Whether the peer has ended the connection (or it failed). */
  get isEnded(): boolean {
    return this.ended;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private flat(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] ?? EMPTY;
  }

  private take(n: number): Buffer {
    const all = this.flat();
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  /** Wait until `ready()` holds; fails if the connection ends first or the time is up. */
  private async until(ready: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (!ready()) {
      if (this.ended) throw new Error(`connection closed before ${what} (${this.size} bytes buffered)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${this.size} bytes buffered)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async bytes(n: number): Promise<Buffer> {
    await this.until(() => this.size >= n, `${n} bytes`);
    return this.take(n);
  }

  /** One CRLF-terminated line, without the CRLF. */
  async line(): Promise<string> {
    let end = -1;
    await this.until(() => (end = this.flat().indexOf("\r\n")) !== -1, "a line");
    return this.take(end + 2)
      .subarray(0, end)
      .toString("latin1");
  }

  async head(): Promise<Head> {
    let end = -1;
    await this.until(() => (end = this.flat().indexOf("\r\n\r\n")) !== -1, "a message head");
    const raw = this.take(end + 4).toString("latin1");
    const lines = raw.slice(0, -4).split("\r\n");
    const headers = lines.slice(1).map((line): [string, string] => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
    return { startLine: lines[0]!, headers, raw };
  }

  /** Everything until the peer closes. */
  async untilEnd(): Promise<Buffer> {
    await this.until(() => this.ended, "the end of the connection");
    return this.take(this.size);
  }

  /** Whatever has arrived so far. */
  drain(): Buffer {
    return this.take(this.size);
  }

  private async chunkedBody(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const sizeLine = await this.line();
      const size = parseInt(sizeLine.split(";")[0]!, 16);
      if (!Number.isFinite(size)) throw new Error(`bad chunk size line ${JSON.stringify(sizeLine)}`);
      if (size === 0) {
        while ((await this.line()) !== "") {
          /* trailers */
        }
        return Buffer.concat(parts);
      }
      parts.push(await this.bytes(size));
      const crlf = await this.line();
      if (crlf !== "") throw new Error(`chunk not followed by CRLF: ${JSON.stringify(crlf)}`);
    }
  }

  /** A request as a server reads it: the body framed by Transfer-Encoding or Content-Length. */
  async request(): Promise<Message> {
    return this.requestBody(await this.head());
  }

  /** The body of a request whose head was read. */
  async requestBody(head: Head): Promise<Message> {
    if (/chunked/i.test(headerValues(head, "transfer-encoding").join(","))) {
      return { ...head, body: await this.chunkedBody(), framing: "chunked" };
    }
    const length = header(head, "content-length");
    if (length !== undefined) return { ...head, body: await this.bytes(Number(length)), framing: "length" };
    return { ...head, body: EMPTY, framing: "none" };
  }

  /** A response as a client reads it (`method` of the request: HEAD has no body). */
  async response(method = "GET"): Promise<Message> {
    const head = await this.head();
    const status = statusOf(head);
    if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
      return { ...head, body: EMPTY, framing: "none" };
    }
    if (/chunked/i.test(headerValues(head, "transfer-encoding").join(","))) {
      return { ...head, body: await this.chunkedBody(), framing: "chunked" };
    }
    const length = header(head, "content-length");
    if (length !== undefined) return { ...head, body: await this.bytes(Number(length)), framing: "length" };
    return { ...head, body: await this.untilEnd(), framing: "close" };
  }
}

export interface RawBackend {
  readonly port: number;
  readonly server: Server;
  /** Every connection accepted so far. */
  readonly sockets: Socket[];
  close(): Promise<void>;
}

/** A TCP backend on 127.0.0.1 whose every connection goes to `handle`; a handler that throws destroys its socket. */
export async function rawBackend(
  handle: (socket: Socket, reader: WireReader) => Promise<void> | void,
): Promise<RawBackend> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    const reader = new WireReader(socket);
    Promise.resolve()
      .then(() => handle(socket, reader))
      .catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("backend has no port");
  return {
    port: address.port,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RawClient {
  readonly socket: Socket;
  readonly reader: WireReader;
}

export async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  const reader = new WireReader(socket);
  await within(new Promise((resolve) => socket.once("connect", resolve)), 3000, "connect");
  return { socket, reader };
}

/** Send a raw request on a fresh connection and read one response. */
export async function rawExchange(port: number, request: string | Buffer, method = "GET"): Promise<Message> {
  const { socket, reader } = await rawClient(port);
  try {
    socket.write(request);
    return await reader.response(method);
  } finally {
    socket.destroy();
  }
}

export { frame } from "../support/ws-frame.js";

export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
  /** The frame's bytes as they came. */
  readonly wire: Buffer;
}

export async function readFrame(reader: WireReader): Promise<Frame> {
  const first = await reader.bytes(2);
  const masked = (first[1]! & 0x80) !== 0;
  let len = first[1]! & 0x7f;
  let ext = EMPTY;
  if (len === 126) {
    ext = await reader.bytes(2);
    len = ext.readUInt16BE(0);
  } else if (len === 127) {
    ext = await reader.bytes(8);
    len = Number(ext.readBigUInt64BE(0));
  }
  const mask = masked ? await reader.bytes(4) : EMPTY;
  const data = await reader.bytes(len);
  const payload = masked ? Buffer.from(data.map((byte, i) => byte ^ mask[i % 4]!)) : data;
  return {
    fin: (first[0]! & 0x80) !== 0,
    opcode: first[0]! & 0x0f,
    payload,
    wire: Buffer.concat([first, ext, mask, data]),
  };
}

/** The Sec-WebSocket-Accept for a key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return createHash("sha1")
    .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    .digest("base64");
}

export const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A WebSocket handshake request as a browser would send it. */
export function upgradeRequest(proxyPort: number, path = "/"): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${proxyPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

export function switchingProtocols(key = WS_KEY): string {
  return (
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`
  );
}

/** nginx's `main` log format (as in the shipped conf/nginx.conf). */
export const MAIN_FORMAT =
  `log_format main '$remote_addr - $remote_user [$time_local] "$request" '\n` +
  `                '$status $body_bytes_sent "$http_referer" '\n` +
  `                '"$http_user_agent" "$http_x_forwarded_for"';`;

/**
 * A whole nginx.conf around the seed's map, upstream, server and location
 * (conf/conf.d/websocket_proxy.conf), with free ports and the `main` format defined.
 */
export function seedConf(proxyPort: number, backendPort: number, extraServer = ""): string {
  return `pid logs/nginx.pid;
error_log logs/error.log info;
events { worker_connections 1024; }
http {
    ${MAIN_FORMAT}
    access_log logs/access.log main;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    upstream websocket {
        server 127.0.0.1:${backendPort};
    }
    server {
        listen 127.0.0.1:${proxyPort};
        access_log logs/test_websocket.access.log main;
        ${extraServer}
        location / {
            proxy_pass http://websocket;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
`;
}

/** `[10/Oct/2000:13:55:36 -0700]` as a pattern. */
export const TIME_LOCAL = String.raw`\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}`;

/** A pattern for one whole log line: `template` literally, with `[TIME]` standing for $time_local. */
export function logLinePattern(template: string): RegExp {
  const parts = template.split("TIME").map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"));
  return new RegExp(`^${parts.join(TIME_LOCAL)}$`);
}

/** The non-empty lines of a log file. */
export function logLines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}
