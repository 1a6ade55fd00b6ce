/**
 * Parsing a request head (request line and header lines) from the bytes a
 * client sent, after ngx_http_parse_request_line() and
 * ngx_http_parse_header_line(), with nginx's limits and status codes.
 *
 * A line ends in CRLF or a bare LF (RFC 9112 2.2), as nginx reads it: the
 * request line in one optional CR then LF (sw_almost_done), a header line in
 * any CRs then LF, the empty line ending the head in one optional CR then LF.
 * Any other CR is a 400. wsgate writes its own CRLF head to the upstream, so a
 * backend never sees the client's line ends.
 *
 * Strings are "byte strings": every byte is one char (latin1), so values
 * round-trip to the wire unchanged.
 */

import type { SrvConf } from "../config/model.js";
import { HeaderBuffers } from "./header-buffers.js";
import { parseAuthority, validateHost } from "./host.js";

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly requestLine: string;
  /** "HTTP/1.1" as nginx reports $server_protocol. */
  readonly protocol: string;
  /** 1000 * major + minor: 1000 for HTTP/1.0, 1001 for HTTP/1.1. */
  readonly version: number;
  /** Header lines in order, minus those nginx ignores (invalid names, underscores). */
  readonly headers: Array<[string, string]>;
  /** Bytes the head took, including the blank line. */
  readonly length: number;
  /**
   * HTTP/2: a body comes and no content-length says how long; it ends with the stream
   * (nginx then reads it as r->headers_in.chunked, and proxies it so).
   */
  readonly bodyToStreamEnd?: boolean;
}

export type HeadParse =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: RequestHead }
  | {
      readonly kind: "error";
      readonly status: number;
      readonly reason: string;
      readonly requestLine?: string;
      /** HTTP/2: the Host the stream's headers had when they were refused (nginx's log line names it). */
      readonly host?: string;
    };

export type HeadLimits = Pick<
  SrvConf,
  "clientHeaderBufferSize" | "largeClientHeaderBuffers" | "maxHeaders" | "ignoreInvalidHeaders" | "underscoresInHeaders"
>;

const CR = 13;
const LF = 10;
const SP = 32;

/** 494 is nginx's internal code for "Request Header Or Cookie Too Large": sent as 400, logged as 400. */
export const STATUS_HEADER_TOO_LARGE = 494;

/** A whole head in one buffer (tests, and callers that have every byte). */
export function parseRequestHead(buf: Buffer, limits: HeadLimits): HeadParse {
  return new HeadReader(limits).feed(buf);
}

const EMPTY = Buffer.alloc(0);

/**
 * A request head read as its bytes arrive, as nginx's parser keeps its state
 * between reads: each chunk is appended once and only the new bytes are
 * scanned for line ends; finished lines are parsed once. A head that arrives
 * in one chunk is parsed in place, without a copy. The bytes kept are bounded
 * by the header buffers (past them the head is refused), as in nginx.
 */
export class HeadReader {
  /** The head's bytes so far: the first chunk itself, or a copy that grows. */
  private buf: Buffer = EMPTY;
  private len = 0;
  /** Whether `buf` is ours to append into (else it is the caller's chunk). */
  private owned = false;
  /** Where the line in progress starts. */
  private lineStart = 0;
  /** No LF in [lineStart, scanFrom): where the search for the line's end resumes. */
  private scanFrom = 0;
  private line: (RequestLine & { readonly text: string }) | undefined;
  private headers: Array<[string, string]> = [];
  private readonly buffers: HeaderBuffers;
  /** The method's bytes before this offset are valid (Infinity: the method is whole). */
  private methodChecked = 0;
  /** Bytes past the finished head (the body's first, or the next request's). */
  private rest: Buffer | undefined;

  constructor(private readonly limits: HeadLimits) {
    this.buffers = new HeaderBuffers(limits);
  }

  /** Bytes of the head received so far. */
  get received(): number {
    return this.len;
  }

  /** What was received, as a byte string (a timed-out head's request line is logged). */
  partial(): string {
    return this.buf.toString("latin1", 0, this.len);
  }

  /** After a finished head: the bytes that followed it in the same reads. */
  takeRest(): Buffer | undefined {
    const rest = this.rest;
    this.rest = undefined;
    return rest;
  }

  /** Start over for the next request. */
  reset(): void {
    this.buf = EMPTY;
    this.len = this.lineStart = this.scanFrom = 0;
    this.owned = false;
    this.line = undefined;
    this.methodChecked = 0;
    this.headers = [];
    this.buffers.reset();
    this.rest = undefined;
  }

  /** Append `chunk` and parse what it completes. After "head" or "error", reset() before feeding again. */
  feed(chunk: Buffer): HeadParse {
    this.append(chunk);
    const view = this.owned ? this.buf.subarray(0, this.len) : this.buf;
    for (;;) {
      if (!this.line) this.skipEmptyLines(view);
      const lf = view.indexOf(LF, this.scanFrom);
      if (lf === -1) return this.incomplete(view);
      const end = this.contentEnd(view, lf);
      if (end === -1) {
        return this.line ? error(400, "client sent invalid header line", this.line.text) : invalidRequest();
      }
      const result = this.line ? this.headerLine(view, end, lf) : this.requestLine(view, end, lf);
      if (result) return result;
      this.lineStart = this.scanFrom = lf + 1;
    }
  }

  /** nginx's sw_start skips CRs and LFs before the request line in any order. */
  private skipEmptyLines(view: Buffer): void {
    while (this.lineStart < this.len && (view[this.lineStart] === CR || view[this.lineStart] === LF)) this.lineStart++;
    if (this.scanFrom < this.lineStart) this.scanFrom = this.lineStart;
  }

  /**
   * Where the line that ends in the LF at `lf` ends, without its CRs; -1 when
   * a CR is where nginx refuses it: inside the line, more than one before the
   * LF of the request line or of the empty line.
   */
  private contentEnd(view: Buffer, lf: number): number {
    let end = lf;
    while (end > this.lineStart && view[end - 1] === CR) end--;
    const crs = lf - end;
    if (crs > 1 && (!this.line || end === this.lineStart)) return -1;
    const cr = view.indexOf(CR, this.lineStart);
    return cr !== -1 && cr < end ? -1 : end;
  }

  private append(chunk: Buffer): void {
    if (this.len === 0) {
      this.buf = chunk;
      this.len = chunk.length;
      this.owned = false;
      return;
    }
    const needed = this.len + chunk.length;
    if (!this.owned || needed > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.len * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
      this.owned = true;
    }
    chunk.copy(this.buf, this.len);
    this.len = needed;
  }

  /** No line end yet: refuse a lone CR, or a line past the header buffers (nginx: 414 / 494). */
  private incomplete(view: Buffer): HeadParse {
    const loneCr = this.loneCr(view);
    this.scanFrom = this.len;
    if (!this.line) {
      if (loneCr) return invalidRequest();
      if (!this.methodSoFarValid(view)) {
        // nginx logs as $request what it has of the line.
        const end = view[this.len - 1] === CR ? this.len - 1 : this.len;
        return error(400, "client sent invalid method", view.toString("latin1", this.lineStart, end));
      }
      return this.buffers.reach(this.len + 1, this.lineStart) === "ok"
        ? INCOMPLETE
        : error(414, "client sent too long URI");
    }
    if (loneCr) return error(400, "client sent invalid header line", this.line.text);
    return this.buffers.reach(this.len + 1, this.lineStart) === "ok" ? INCOMPLETE : tooLarge(this.line.text);
  }

  /**
   * A CR followed by what nginx refuses after it, in the bytes since the last
   * read (from one byte back, for a CR that was last): anything but LF, or
   * for a header line anything but CR or LF; a CR that begins a header line
   * is the empty line's, followed by LF only.
   */
  private loneCr(view: Buffer): boolean {
    let cr = view.indexOf(CR, Math.max(this.lineStart, this.scanFrom - 1));
    while (cr !== -1 && cr < this.len - 1) {
      const next = view[cr + 1]!;
      if (next !== CR || !this.line || cr === this.lineStart) return true;
      cr = view.indexOf(CR, cr + 1);
    }
    return false;
  }

  /**
   * nginx's parser refuses a method at its first wrong byte (sw_start, sw_method), not at the
   * line's end: a client dripping garbage is answered at once, not at client_header_timeout.
   * Checks the method bytes that came since the last read.
   */
  private methodSoFarValid(view: Buffer): boolean {
    if (this.methodChecked === Infinity) return true;
    const from = Math.max(this.lineStart, this.methodChecked);
    for (let i = from; i < view.length; i++) {
      const c = view[i]!;
      if (c === SP) {
        this.methodChecked = Infinity;
        return i > this.lineStart;
      }
      if (c === CR && i === view.length - 1) break;
      if (!((c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d)) return false;
    }
    this.methodChecked = view.length;
    return true;
  }

  /** The request line's text ends at `end`, the line at its LF `lf`. */
  private requestLine(view: Buffer, end: number, lf: number): HeadParse | undefined {
    if (this.buffers.reach(lf + 1, this.lineStart) !== "ok") return error(414, "client sent too long URI");
    const text = view.toString("latin1", this.lineStart, end);
    const line = parseRequestLine(text);
    if ("status" in line) return { ...line, requestLine: text };
    this.line = { ...line, text };
    return undefined;
  }

  /** A header line's text ends at `end`, the line at its LF `lf`; an empty one ends the head. */
  private headerLine(view: Buffer, end: number, lf: number): HeadParse | undefined {
    const line = this.line!;
    if (this.buffers.reach(lf + 1, this.lineStart) !== "ok") return tooLarge(line.text);
    if (end === this.lineStart) {
      const length = lf + 1;
      if (length < this.len) this.rest = view.subarray(length, this.len);
      const { method, target, protocol, version } = line;
      const head = { method, target, protocol, version, requestLine: line.text, headers: this.headers, length };
      return { kind: "head", head };
    }
    const header = parseHeaderLine(view.toString("latin1", this.lineStart, end), this.limits);
    if (header === "invalid") return error(400, "client sent invalid header line", line.text);
    if (header !== "ignored") {
      if (this.headers.length >= this.limits.maxHeaders) {
        return error(STATUS_HEADER_TOO_LARGE, "client sent too many header lines", line.text);
      }
      this.headers.push(header);
    }
    return undefined;
  }
}

const INCOMPLETE: HeadParse = { kind: "incomplete" };

function invalidRequest(): HeadParse {
  return error(400, "client sent invalid request");
}

function tooLarge(requestLine: string): HeadParse {
  return error(STATUS_HEADER_TOO_LARGE, "client sent too long header line", requestLine);
}

function error(status: number, reason: string, requestLine?: string): HeadParse {
  return requestLine === undefined ? { kind: "error", status, reason } : { kind: "error", status, reason, requestLine };
}

const METHOD = /^[A-Z_-]+$/;
/** nginx's grammar: the major version starts with 1-9 (so HTTP/0.9 and HTTP/01.1 are invalid); leading zeros of the minor are allowed. */
const VERSION = /^HTTP\/([1-9]\d*)\.(\d+)$/;

type RequestLine = Pick<RequestHead, "method" | "target" | "protocol" | "version">;

function parseRequestLine(text: string): RequestLine | { kind: "error"; status: number; reason: string } {
  const parts = text.split(" ").filter((part) => part !== "");
  const [method, target, protocol] = parts;
  if (parts.length !== 3 || !method || !target || !protocol) {
    return { kind: "error", status: 400, reason: "client sent invalid request" };
  }
  if (!METHOD.test(method)) return { kind: "error", status: 400, reason: "client sent invalid method" };
  if (!validTarget(target)) return { kind: "error", status: 400, reason: "client sent invalid request" };
  const version = VERSION.exec(protocol);
  if (!version) return { kind: "error", status: 400, reason: "client sent invalid request" };
  const major = Number(version[1]);
  const minor = Number(version[2]);
  if (major > 99 || minor > 99) return { kind: "error", status: 400, reason: "client sent invalid request" };
  if (major > 1) return { kind: "error", status: 505, reason: "client sent unsupported HTTP version" };
  if (!validRequestLineHost(target)) {
    return { kind: "error", status: 400, reason: "client sent invalid host in request line" };
  }
  return { method, target, protocol, version: major * 1000 + minor };
}

/** Origin-form ("/path?q"), or absolute-form with an authority nginx's parser accepts; no control characters. */
function validTarget(target: string): boolean {
  if (/[\x00-\x20\x7f]/.test(target)) return false;
  return target.startsWith("/") || parseAuthority(target) !== undefined;
}

/** ngx_http_process_request_line(): an absolute-form target's host goes through ngx_http_validate_host(). */
function validRequestLineHost(target: string): boolean {
  if (target.startsWith("/")) return true;
  const authority = parseAuthority(target);
  return authority !== undefined && validateHost(authority.host) !== undefined;
}

const CONTROL_OR_SPACE_IN_NAME = /[\x00-\x20\x7f]/;
const VALID_NAME = /^[A-Za-z0-9-]+$/;
const VALID_NAME_UNDERSCORE = /^[A-Za-z0-9_-]+$/;

/** One header line: [name, value], "ignored" (nginx drops it), or "invalid" (400). */
function parseHeaderLine(text: string, limits: HeadLimits): [string, string] | "ignored" | "invalid" {
  const colon = text.indexOf(":");
  if (colon === 0) return "invalid";
  // A line without ":" is, to nginx's parser, a header with an empty value (and it passes it on so).
  const name = colon === -1 ? text : text.slice(0, colon);
  // Since nginx 1.21.1, spaces and control characters in a name are an error, not an ignored header.
  if (CONTROL_OR_SPACE_IN_NAME.test(name)) return "invalid";
  // nginx skips spaces around a value, but not tabs: "Transfer-Encoding:\tchunked" is an unknown coding to it.
  const value = colon === -1 ? "" : trimSpaces(text, colon + 1);
  if (/[\x00\r\n]/.test(value)) return "invalid";
  const valid = (limits.underscoresInHeaders ? VALID_NAME_UNDERSCORE : VALID_NAME).test(name);
  if (!valid && limits.ignoreInvalidHeaders) return "ignored";
  return [name, value];
}

/** text.slice(from) without its leading and trailing spaces (spaces only), found by index, not by a regex replace. */
function trimSpaces(text: string, from: number): string {
  let start = from;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 0x20) start++;
  while (end > start && text.charCodeAt(end - 1) === 0x20) end--;
  return text.slice(start, end);
}
