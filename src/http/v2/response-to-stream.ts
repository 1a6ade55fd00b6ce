/**
 * The HTTP engine's response, as HTTP/1.1 bytes, turned into an HTTP/2
 * stream's frames, as ngx_http_v2_filter_module writes a response: the
 * status line and headers become one HEADERS frame (without the headers
 * HTTP/2 forbids: Connection, Keep-Alive, Transfer-Encoding, Upgrade…), the
 * body becomes DATA frames — a chunked body unchunked, a body with a length
 * cut at its length, a body ended by the close ended by the engine's end() —
 * and the end of the body ends the stream. A 1xx head is dropped (nginx sends
 * no interim response over HTTP/2). On an extended CONNECT (RFC 8441), the
 * upstream's 101 becomes the stream's 200 and the stream then carries the
 * tunnel's bytes.
 */

import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { ChunkedDecoder } from "../../core/chunked.js";

type Done = (error?: Error | null) => void;

/** Headers that say something about an HTTP/1.1 connection: never sent on a stream (RFC 9113 8.2.2). */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "sec-websocket-accept",
]);

const HEAD_END = Buffer.from("\r\n\r\n");
/** An HTTP/1.1 head as wsgate writes it is far smaller; past this the bytes are not a head. */
const HEAD_LIMIT = 1024 * 1024;

type BodyState =
  | { readonly kind: "head" }
  | { readonly kind: "none" }
  | { kind: "length"; left: number }
  | { readonly kind: "chunked"; readonly decoder: ChunkedDecoder }
  | { readonly kind: "close" }
  | { readonly kind: "tunnel" };

export class ResponseToStream {
  private state: BodyState = { kind: "head" };
  private headBytes: Buffer | undefined;
  /** The response has been sent whole: the stream may end without a reset. */
  complete = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly request: { readonly extendedConnect: boolean; readonly head: boolean },
  ) {}

  get tunnel(): boolean {
    return this.state.kind === "tunnel";
  }

  write(chunk: Buffer, done: Done): void {
    if (this.state.kind === "head") {
      const rest = this.readHead(chunk);
      if (rest === undefined || rest.length === 0) {
        done();
        return;
      }
      chunk = rest;
    }
    this.body(chunk, done);
  }

  /** The engine closed its side: a body ended by the close ends here; a tunnel's side ends. */
  end(done: Done): void {
    if (this.stream.destroyed || this.stream.closed) {
      done();
      return;
    }
    if (this.state.kind === "close" || this.state.kind === "tunnel") {
      this.complete = true;
      const tunnel = this.state.kind === "tunnel";
      this.stream.end(() => {
        if (!tunnel) this.stopClientBody();
        done();
      });
      return;
    }
    done();
  }

  private readHead(chunk: Buffer): Buffer | undefined {
    const bytes = this.headBytes ? Buffer.concat([this.headBytes, chunk]) : chunk;
    const end = bytes.indexOf(HEAD_END);
    if (end === -1) {
      if (bytes.length > HEAD_LIMIT) this.fail();
      else this.headBytes = bytes;
      return undefined;
    }
    this.headBytes = undefined;
    const { status, headers } = parseHead(bytes.toString("latin1", 0, end));
    const rest = bytes.subarray(end + HEAD_END.length);
    // An interim response (100 Continue): HTTP/2 clients are not sent one, as by nginx.
    if (status >= 100 && status < 200 && status !== 101) return rest.length > 0 ? this.readHead(rest) : undefined;
    this.respond(status, headers);
    return rest;
  }

  private respond(status: number, headers: Array<[string, string]>): void {
    const out: OutgoingHttpHeaders = {};
    let length: number | undefined;
    let chunked = false;
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower === "transfer-encoding") chunked = /chunked/i.test(value);
      if (lower === "content-length") length = Number(value);
      if (CONNECTION_SPECIFIC.has(lower)) continue;
      const previous = out[lower];
      if (previous === undefined) out[lower] = value;
      else if (Array.isArray(previous)) previous.push(value);
      else out[lower] = [String(previous), value];
    }
    const upgraded = status === 101;
    if (this.request.extendedConnect && !upgraded && status >= 200 && status < 300) {
      // RFC 8441: a 2xx would tell the client its WebSocket is open; the location answered without one.
      this.stream.respond({ ":status": 502 }, { endStream: true });
      this.state = { kind: "none" };
      this.complete = true;
      setImmediate(() => this.stopClientBody());
      return;
    }
    out[":status"] = upgraded ? 200 : status;
    const bodiless = this.request.head || status === 204 || status === 304 || (length === 0 && !chunked);
    if (upgraded) this.state = { kind: "tunnel" };
    else if (bodiless) this.state = { kind: "none" };
    else if (chunked) this.state = { kind: "chunked", decoder: new ChunkedDecoder() };
    else if (length !== undefined) this.state = { kind: "length", left: length };
    else this.state = { kind: "close" };
    try {
      this.stream.respond(out, { endStream: bodiless && !upgraded });
    } catch {
      // A header value HTTP/2 cannot carry: the stream is reset, as a failed header filter ends the request.
      this.fail();
      return;
    }
    if (bodiless && !upgraded) {
      this.complete = true;
      // After the HEADERS just queued (a frame submitted later is sent later).
      setImmediate(() => this.stopClientBody());
    }
  }

  private body(chunk: Buffer, done: Done): void {
    const state = this.state;
    switch (state.kind) {
      case "none":
        done();
        return;
      case "length": {
        const take = Math.min(state.left, chunk.length);
        state.left -= take;
        const last = state.left === 0;
        if (last) this.complete = true;
        this.send(chunk.subarray(0, take), last, done);
        return;
      }
      case "chunked": {
        const pieces: Buffer[] = [];
        const result = state.decoder.feed(chunk, (data) => pieces.push(data));
        if (result === "invalid") {
          this.fail();
          done();
          return;
        }
        const last = result === "done";
        if (last) {
          this.complete = true;
          this.state = { kind: "none" };
        }
        this.send(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces), last, done);
        return;
      }
      default:
        this.send(chunk, false, done);
    }
  }

  /** Bytes for the stream; `done` once it has taken them (back-pressure to the engine). */
  private send(data: Buffer, last: boolean, done: Done): void {
    if (this.stream.destroyed || this.stream.closed) {
      done();
      return;
    }
    if (last) {
      this.stream.end(data, () => {
        this.stopClientBody();
        done();
      });
      return;
    }
    if (data.length === 0) {
      done();
      return;
    }
    this.stream.write(data, () => done());
  }

  /**
   * ngx_http_v2_close_stream(): the response is out whole while the client's side is still open (a body
   * not sent to its end, and no longer wanted): RST_STREAM NO_ERROR tells it to stop.
   */
  private stopClientBody(): void {
    if (this.stream.destroyed || this.stream.closed) return;
    if (this.stream.state.remoteClose) return;
    this.stream.close(constants.NGHTTP2_NO_ERROR);
  }

  private fail(): void {
    this.state = { kind: "none" };
    if (!this.stream.destroyed && !this.stream.closed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }
}

/** "HTTP/1.1 200 OK\r\nName: value…" → the status and the header lines. */
function parseHead(text: string): { status: number; headers: Array<[string, string]> } {
  const lines = text.split("\r\n");
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 502);
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { status, headers };
}
