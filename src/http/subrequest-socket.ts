/**
 * The client side of a subrequest: an in-memory socket the HTTP engine
 * serves the subrequest on (as an HTTP/2 stream's StreamSocket), whose
 * response bytes are read back here instead of going to a client — the
 * status line and headers always, the body only when asked for (a JWKS);
 * otherwise it is dropped as it comes, as nginx's header_only subrequest
 * never keeps it. Nothing is ever read from it: a subrequest has no body of
 * its own (framing "none"), and its end is the end of the engine's writing.
 */

import { Duplex } from "node:stream";
import { ChunkedDecoder } from "../core/chunked.js";
import type { ConnectionInfo } from "./request.js";

const HEAD_END = Buffer.from("\r\n\r\n");

/** The response the engine wrote for a subrequest. */
export interface CapturedResponse {
  /** The status line's code; undefined when no head was written (a 444, a crash, a client gone). */
  readonly status: number | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body, its chunked framing removed; only when kept. */
  readonly body: Buffer | undefined;
  /** More body came than the limit: the socket was closed there. */
  readonly tooBig: boolean;
}

export class SubrequestSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  bytesWritten = 0;
  readonly bytesRead = 0;
  private head: Buffer | undefined = Buffer.alloc(0);
  private status: number | undefined;
  private headers: Array<[string, string]> = [];
  private chunked = false;
  private readonly bodyParts: Buffer[] | undefined;
  /** Body bytes kept so far (framing included), and the most that may be. */
  private bodyBytes = 0;
  private tooBig = false;
  /** Called once the response head is complete (a 101 ends the subrequest there: no tunnel is run for it). */
  onHead: ((status: number) => void) | undefined;

  constructor(
    parent: ConnectionInfo,
    keepBody: boolean,
    private readonly bodyLimit = Infinity,
  ) {
    super({ allowHalfOpen: true });
    this.remoteAddress = parent.remoteAddress;
    this.remotePort = parent.remotePort;
    this.localAddress = parent.localAddress;
    this.localPort = parent.localPort;
    this.bodyParts = keepBody ? [] : undefined;
  }

  /** What the engine read back: its status, headers and (when kept) body. */
  response(): CapturedResponse {
    const body = this.bodyParts ? this.decodedBody() : undefined;
    return { status: this.status, headers: this.headers, body, tooBig: this.tooBig };
  }

  // --- what the engine asks of a socket: no client, so no timer (send_timeout has nobody to wait for) ---

  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  override _read(): void {
    // Nothing comes from a client.
  }

  /** Counted as given, as a TCP socket's bytesWritten counts what it buffers. */
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (typeof chunk === "string") this.bytesWritten += Buffer.byteLength(chunk, encoding as BufferEncoding);
    else if (chunk instanceof Uint8Array) this.bytesWritten += chunk.byteLength;
    return super.write(chunk, encoding as BufferEncoding, callback as (error?: Error | null) => void);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.head === undefined) this.keep(chunk);
    else this.readHead(chunk);
    done();
  }

  private keep(chunk: Buffer): void {
    if (this.bodyParts === undefined || this.tooBig) return;
    this.bodyBytes += chunk.length;
    this.bodyParts.push(chunk);
    // Counted with a chunked body's framing: a little early rather than a little late.
    if (this.bodyBytes > this.bodyLimit) {
      this.tooBig = true;
      setImmediate(() => this.destroy());
    }
  }

  private readHead(chunk: Buffer): void {
    const seen = Buffer.concat([this.head!, chunk]);
    const end = seen.indexOf(HEAD_END);
    if (end === -1) {
      this.head = seen;
      return;
    }
    const lines = seen.toString("latin1", 0, end).split("\r\n");
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
    const rest = seen.subarray(end + HEAD_END.length);
    // An interim response (1xx but 101) is followed by the real head.
    if (status >= 100 && status < 200 && status !== 101) {
      this.head = Buffer.alloc(0);
      if (rest.length > 0) this.readHead(rest);
      return;
    }
    this.head = undefined;
    this.status = status;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) this.headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    this.chunked = this.headers.some(
      ([name, value]) => name.toLowerCase() === "transfer-encoding" && /chunked/i.test(value),
    );
    if (rest.length > 0) this.keep(rest);
    this.onHead?.(status);
  }

  private decodedBody(): Buffer {
    const raw = Buffer.concat(this.bodyParts!);
    let body = raw;
    if (this.chunked) {
      const pieces: Buffer[] = [];
      new ChunkedDecoder().feed(raw, (piece) => pieces.push(Buffer.from(piece)));
      body = Buffer.concat(pieces);
    }
    return this.tooBig ? body.subarray(0, this.bodyLimit) : body;
  }
}
