/**
 * Parsing a request head (request line and header lines) from the bytes a
 * client sent, after ngx_http_parse_request_line() and
 * ngx_http_parse_header_line(), with nginx's limits and status codes.
 *
 * One deliberate difference: a line must end in CRLF. nginx also accepts a
 * bare LF; wsgate refuses it with 400, as Node's parser does, because the
 * disagreement between parsers on bare LF is a known request-smuggling vector.
 *
 * Strings are "byte strings": every byte is one char (latin1), so values
 * round-trip to the wire unchanged.
 */

import type { SrvConf } from "../config/model.js";
import { HeaderBuffers } from "./header-buffers.js";

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
}

export type HeadParse =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: RequestHead }
  | { readonly kind: "error"; readonly status: number; readonly reason: string; readonly requestLine?: string };

export type HeadLimits = Pick<
  SrvConf,
  "clientHeaderBufferSize" | "largeClientHeaderBuffers" | "maxHeaders" | "ignoreInvalidHeaders" | "underscoresInHeaders"
>;

const CR = 13;
const LF = 10;

/** 494 is nginx's internal code for "Request Header Or Cookie Too Large": sent as 400, logged as 400. */
export const STATUS_HEADER_TOO_LARGE = 494;

export function parseRequestHead(buf: Buffer, limits: HeadLimits): HeadParse {
  let pos = 0;
  // nginx skips empty lines before the request line (RFC 9112 2.2).
  while (pos + 1 < buf.length && buf[pos] === CR && buf[pos + 1] === LF) pos += 2;
  const buffers = new HeaderBuffers(limits);
  const requestLineEnd = findLineEnd(buf, pos);
  if (requestLineEnd === -1) {
    if (buffers.reach(buf.length + 1, pos) !== "ok") return error(414, "client sent too long URI");
    return bareLf(buf, pos) ? error(400, "client sent invalid request") : { kind: "incomplete" };
  }
  if (requestLineEnd < 0) return error(400, "client sent invalid request");
  if (buffers.reach(requestLineEnd + 2, pos) !== "ok") return error(414, "client sent too long URI");
  const requestLine = buf.toString("latin1", pos, requestLineEnd);
  const line = parseRequestLine(requestLine);
  if ("status" in line) return { ...line, requestLine };

  const headers: Array<[string, string]> = [];
  pos = requestLineEnd + 2;
  for (;;) {
    const end = findLineEnd(buf, pos);
    if (end === -1) {
      if (buffers.reach(buf.length + 1, pos) !== "ok") return tooLarge(requestLine);
      return bareLf(buf, pos) ? error(400, "client sent invalid header line", requestLine) : { kind: "incomplete" };
    }
    if (end < 0) return error(400, "client sent invalid header line", requestLine);
    if (buffers.reach(end + 2, pos) !== "ok") return tooLarge(requestLine);
    if (end === pos) {
      const head = { ...line, requestLine, headers, length: end + 2 };
      return { kind: "head", head };
    }
    const header = parseHeaderLine(buf.toString("latin1", pos, end), limits);
    if (header === "invalid") return error(400, "client sent invalid header line", requestLine);
    if (header !== "ignored") {
      if (headers.length >= limits.maxHeaders) {
        return error(STATUS_HEADER_TOO_LARGE, "client sent too many header lines", requestLine);
      }
      headers.push(header);
    }
    pos = end + 2;
  }
}

function tooLarge(requestLine: string): HeadParse {
  return error(STATUS_HEADER_TOO_LARGE, "client sent too long header line", requestLine);
}

/** Index of the CR of the next CRLF; -1 if none yet; -2 if a bare LF or a CR not before LF comes first. */
function findLineEnd(buf: Buffer, from: number): number {
  const lf = buf.indexOf(LF, from);
  if (lf === -1) {
    const cr = buf.indexOf(CR, from);
    return cr !== -1 && cr < buf.length - 1 ? -2 : -1;
  }
  if (lf === from || buf[lf - 1] !== CR) return -2;
  const cr = buf.indexOf(CR, from);
  return cr === lf - 1 ? cr : -2;
}

function bareLf(buf: Buffer, from: number): boolean {
  return buf.indexOf(LF, from) !== -1;
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
  return { method, target, protocol, version: major * 1000 + minor };
}

/** Origin-form ("/path?q") or absolute-form ("http://host/path"); no control characters. */
function validTarget(target: string): boolean {
  if (/[\x00-\x20\x7f]/.test(target)) return false;
  return target.startsWith("/") || /^https?:\/\/[^/]/i.test(target);
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
  const value = colon === -1 ? "" : text.slice(colon + 1).replace(/^ +| +$/g, "");
  if (/[\x00\r\n]/.test(value)) return "invalid";
  const valid = (limits.underscoresInHeaders ? VALID_NAME_UNDERSCORE : VALID_NAME).test(name);
  if (!valid && limits.ignoreInvalidHeaders) return "ignored";
  return [name, value];
}
