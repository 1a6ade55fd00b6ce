/**
 * One HTTP/2 stream, seen by the HTTP engine as a client socket: a request
 * on a stream runs through exactly the phases of an HTTP/1.x request
 * (connection.ts, request-flow.ts) because the engine reads its body from
 * this socket and writes its response here as HTTP/1.1 bytes, which
 * response-to-stream.ts turns into the stream's HEADERS and DATA frames.
 * After a 101 the same socket carries a tunnel (RFC 8441): bytes pass both
 * ways untouched.
 *
 * Back-pressure both ways, per stream: what the engine writes is held until
 * the stream has taken it (the write callback waits for the stream's), and a
 * reader that stops reading pauses the stream, whose flow-control window then
 * stops the client (Node's HTTP/2 session credits the window as data is read).
 */

import { Duplex } from "node:stream";
import { randomBytes } from "node:crypto";
import { constants, type ServerHttp2Stream } from "node:http2";
import { ChunkedDecoder } from "../../core/chunked.js";
import { ResponseToStream } from "./response-to-stream.js";

/** What the socket reports of the connection the stream belongs to. */
export interface StreamPeer {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const LAST_CHUNK = Buffer.from("0\r\n\r\n");

export class StreamSocket extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  bytesWritten = 0;
  bytesRead = 0;
  private readonly response: ResponseToStream;
  /** The body goes to the engine in chunked framing: its end is the stream's end (no content-length). */
  private readonly chunkBody: boolean;
  private timeoutMs = 0;
  private readonly counter = new SentCounter();

  constructor(
    readonly stream: ServerHttp2Stream,
    peer: StreamPeer,
    options: { readonly chunkBody: boolean; readonly extendedConnect: boolean; readonly head: boolean },
  ) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.remoteAddress = peer.remoteAddress;
    this.remotePort = peer.remotePort;
    this.localAddress = peer.localAddress;
    this.localPort = peer.localPort;
    this.chunkBody = options.chunkBody;
    this.response = new ResponseToStream(stream, options);
    stream.on("data", (chunk: Buffer) => this.fromClient(chunk));
    stream.on("end", () => this.clientEnded());
    stream.on("error", (err: Error) => this.destroy(err));
    stream.on("close", () => this.streamClosed());
    stream.on("timeout", () => this.emit("timeout"));
  }

  // --- what the engine asks of a socket ---------------------------------------------------------

  setTimeout(ms: number, callback?: () => void): this {
    if (callback) this.once("timeout", callback);
    this.timeoutMs = ms;
    if (!this.stream.destroyed) this.stream.setTimeout(ms);
    return this;
  }

  get timeout(): number {
    return this.timeoutMs;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  /** reset_timedout_connection: the stream is reset, the connection goes on. */
  resetAndDestroy(): this {
    this.closeStream(constants.NGHTTP2_CANCEL);
    return this.destroy();
  }

  // --- the client's side: the request body, then a tunnel's bytes -------------------------------

  private fromClient(chunk: Buffer): void {
    this.bytesRead += chunk.length;
    const more = this.chunkBody && !this.response.tunnel ? this.pushChunk(chunk) : this.push(chunk);
    if (!more) this.stream.pause();
  }

  /** A piece of a body without a length, framed as HTTP/1.1 chunks for the engine's chunked reader. */
  private pushChunk(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    this.push(Buffer.from(chunk.length.toString(16)));
    this.push(CRLF);
    this.push(chunk);
    return this.push(CRLF);
  }

  /**
   * END_STREAM from the client. In a tunnel it is the client's half-close. Before, it only ends the body:
   * the engine must not take it for a client gone (which an HTTP/1.x socket's end would be).
   */
  private clientEnded(): void {
    if (this.response.tunnel) this.push(null);
    else if (this.chunkBody) this.push(LAST_CHUNK);
  }

  override _read(): void {
    if (!this.stream.destroyed) this.stream.resume();
  }

  // --- the engine's side: an HTTP/1.1 response, then a tunnel's bytes ---------------------------

  /** Counted as they are given (as a TCP socket's bytesWritten counts what it buffers): the access log reads it at once. */
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (typeof chunk === "string")
      this.bytesWritten += this.counter.count(Buffer.from(chunk, encoding as BufferEncoding));
    // A view, never a copy: a tunnel's bytes pass here.
    else if (chunk instanceof Uint8Array)
      this.bytesWritten += this.counter.count(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    return super.write(chunk, encoding as BufferEncoding, callback as (error?: Error | null) => void);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.response.write(chunk, done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.response.end(done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    // A response cut short is reset, as nginx resets a stream whose request ended in an error.
    if (!this.response.complete) this.closeStream(constants.NGHTTP2_INTERNAL_ERROR);
    else this.closeStream(constants.NGHTTP2_NO_ERROR);
    done(err);
  }

  private closeStream(code: number): void {
    if (!this.stream.destroyed && !this.stream.closed) this.stream.close(code);
  }

  private streamClosed(): void {
    // The client reset the stream, or the session went away: the engine sees a closed socket.
    if (!this.destroyed) this.destroy();
  }
}

/**
 * The engine's bytes as the client is sent them, counted as they are given: the head whole (the engine
 * subtracts it for $body_bytes_sent), a chunked body without its framing — the stream carries the data
 * alone, and nginx's $body_bytes_sent over HTTP/2 counts what the DATA frames carry.
 */
class SentCounter {
  private head: Buffer | undefined = Buffer.alloc(0);
  private decoder: ChunkedDecoder | undefined;
  private bodyEnded = false;

  count(bytes: Buffer): number {
    if (this.head === undefined) return this.body(bytes);
    const seen = Buffer.concat([this.head, bytes]);
    const end = seen.indexOf(HEAD_END);
    if (end === -1) {
      this.head = seen;
      return bytes.length;
    }
    const headText = seen.toString("latin1", 0, end);
    const rest = seen.subarray(end + HEAD_END.length);
    const headCount = bytes.length - rest.length;
    // An interim head (1xx other than 101) is followed by another head.
    if (/^HTTP\/\d\.\d 1\d\d/.test(headText) && !/^HTTP\/\d\.\d 101/.test(headText)) {
      this.head = Buffer.alloc(0);
      return headCount + this.count(rest);
    }
    this.head = undefined;
    if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(headText)) this.decoder = new ChunkedDecoder();
    return headCount + this.body(rest);
  }

  private body(bytes: Buffer): number {
    if (!this.decoder) return bytes.length;
    if (this.bodyEnded) return 0;
    let data = 0;
    // Invalid framing: response-to-stream.ts resets the stream; nothing more is sent.
    if (this.decoder.feed(bytes, (piece) => (data += piece.length)) !== "more") this.bodyEnded = true;
    return data;
  }
}

/** A fresh Sec-WebSocket-Key for the upstream's handshake (RFC 6455 4.1: 16 random bytes, base64). */
export function freshWebSocketKey(): string {
  return randomBytes(16).toString("base64");
}
