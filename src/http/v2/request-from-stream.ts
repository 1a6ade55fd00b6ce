/**
 * An HTTP/2 stream's header list as the request head the HTTP engine reads,
 * as nginx 1.28 builds r->headers_in from a stream (ngx_http_v2_state_process_header,
 * ngx_http_v2_pseudo_header, ngx_http_v2_construct_request_line,
 * ngx_http_v2_construct_cookie_header): the pseudo-headers make the request
 * line ("GET /path HTTP/2.0"), `:authority` becomes a Host header where it
 * stands, the Cookie fields are joined with "; ", and header names are
 * checked as ngx_http_v2_validate_header() checks them, with
 * large_client_header_buffers' size for one field and its total for the list.
 *
 * An extended CONNECT with `:protocol websocket` (RFC 8441) becomes the
 * HTTP/1.1 handshake the upstream expects: GET, Upgrade: websocket,
 * Connection: upgrade and a fresh Sec-WebSocket-Key, with the client's
 * version, subprotocols and extensions as it sent them.
 */

import { constants } from "node:http2";
import type { HeadLimits, HeadParse, RequestHead } from "../request-head.js";

export type StreamHeadLimits = HeadLimits;

export interface StreamRequest {
  readonly parse: Exclude<HeadParse, { kind: "incomplete" }>;
  /** RFC 8441: the stream asks for a WebSocket. */
  readonly extendedConnect: boolean;
  /** The method is HEAD: the response has no body. */
  readonly head: boolean;
  /** A body without content-length: the engine reads it as chunks (stream-socket.ts frames it so). */
  readonly bodyToStreamEnd?: boolean;
  /**
   * The whole connection fails (ngx_http_v2_connection_error()): GOAWAY with this code, `reason` logged at
   * info in the connection's context ("while processing HTTP/2 connection").
   */
  readonly connectionError?: { readonly code: number; readonly reason: string };
  /** Lines nginx logs at info as it reads the fields (an invalid header ignored), with the host known then. */
  readonly notices?: readonly StreamNotice[];
}

export interface StreamNotice {
  readonly reason: string;
  readonly host?: string;
}

/** Options of the conversion. */
export interface StreamRequestOptions {
  readonly limits: StreamHeadLimits;
  /** wsgate_http2_websocket: extended CONNECT is accepted. */
  readonly websocket: boolean;
  /** A fresh key for the upstream's handshake. */
  readonly newKey: () => string;
}

const PSEUDO = new Set([":method", ":scheme", ":authority", ":path", ":protocol"]);

/** `rawHeaders` as Node gives them: name, value, name, value… in the order they came. */
export function requestFromStream(
  rawHeaders: readonly string[],
  options: StreamRequestOptions,
  /** A body follows the HEADERS (no END_STREAM on them). */
  bodyFollows: boolean,
): StreamRequest {
  const pseudo = new Map<string, string>();
  const headers: Array<[string, string]> = [];
  const cookies: string[] = [];
  const { size, count } = options.limits.largeClientHeaderBuffers;
  let total = 0;
  let length = 0;
  let host: string | undefined;
  const notices: StreamNotice[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    length += name.length + value.length + 4;
    // ngx_http_v2_state_field_len() and ngx_http_v2_state_process_header(): the connection fails.
    if (name.length > size || value.length > size) return connectionFailed("client sent too large header field");
    total += name.length + value.length;
    if (total > size * count) return connectionFailed("client sent too large header");
    if (name.startsWith(":")) {
      // nginx takes a pseudo-header after regular ones too (nghttp2 resets such a stream before it comes here).
      if (!PSEUDO.has(name)) return refused(400, `client sent unknown pseudo-header "${name}"`, host);
      if (pseudo.has(name)) return refused(400, `client sent duplicate ${name} header`, host);
      // ngx_http_v2_parse_method() judges the method as the field arrives: the host is the one known so far.
      if (name === ":method" && value !== "" && !/^[A-Z_-]+$/.test(value))
        return refused(400, `client sent invalid method: "${value}"`, host);
      pseudo.set(name, value);
      // nginx 1.28 adds :authority to the headers as "host", where it stands (ngx_http_v2_parse_authority()).
      if (name === ":authority") {
        headers.push(["host", value]);
        host = value;
      }
      continue;
    }
    const check = checkName(name, value, options.limits);
    if (check === "error") return refused(400, `client sent invalid header: "${name}"`, host);
    if (check === "ignored") {
      notices.push({ reason: `client sent invalid header: "${name}"`, ...(host !== undefined ? { host } : {}) });
      continue;
    }
    if (name === "host") {
      // ngx_http_process_host() runs as the field arrives: a second Host (or one after :authority) is refused.
      if (host !== undefined)
        return refused(
          400,
          `client sent duplicate host header: "host: ${value}", previous value: "host: ${host}"`,
          host,
        );
      host = value;
    }
    if (name === "cookie") cookies.push(value);
    else headers.push([name, value]);
    if (headers.length > options.limits.maxHeaders) return refused(400, "client sent too many header lines", host);
  }
  if (cookies.length > 0) headers.push(["cookie", cookies.join("; ")]);
  const unsized = bodyFollows && !headers.some(([name]) => name === "content-length");
  const request = build(pseudo, headers, length, options, unsized, host);
  return notices.length > 0 ? { ...request, notices } : request;
}

function build(
  pseudo: Map<string, string>,
  headers: Array<[string, string]>,
  length: number,
  options: StreamRequestOptions,
  unsized: boolean,
  host: string | undefined,
): StreamRequest {
  let method = pseudo.get(":method");
  const path = pseudo.get(":path");
  const protocol = pseudo.get(":protocol");
  const extendedConnect = method === "CONNECT" && protocol !== undefined;
  if (extendedConnect) {
    if (!options.websocket || protocol.toLowerCase() !== "websocket")
      return refused(400, `client sent unsupported ":protocol" header`, host);
    method = "GET";
    headers.push(["upgrade", "websocket"], ["connection", "upgrade"], ["sec-websocket-key", options.newKey()]);
  } else if (protocol !== undefined) {
    return refused(400, `client sent ":protocol" header without CONNECT method`, host);
  }
  if (method === undefined || method === "") return refused(400, `client sent no :method header`, host);
  if (method === "CONNECT") return refused(405, "client sent CONNECT method", host);
  if (!/^[A-Z_-]+$/.test(method)) return refused(400, `client sent invalid method: "${method}"`, host);
  if (pseudo.get(":scheme") === undefined) return refused(400, "client sent no :scheme header", host);
  if (path === undefined || path === "") return refused(400, "client sent no :path header", host);
  if (!path.startsWith("/") && !(method === "OPTIONS" && path === "*"))
    return refused(400, `client sent invalid :path header: "${path}"`, host);
  const requestLine = `${method} ${path} HTTP/2.0`;
  const bodyToStreamEnd = unsized && !extendedConnect;
  const head: RequestHead = {
    method,
    target: path,
    requestLine,
    protocol: "HTTP/2.0",
    version: 2000,
    headers,
    length,
    ...(bodyToStreamEnd ? { bodyToStreamEnd } : {}),
  };
  return { parse: { kind: "head", head }, extendedConnect, head: method === "HEAD", bodyToStreamEnd };
}

/**
 * ngx_http_v2_validate_header(): a name with upper case, a control character,
 * a space or a colon, or a value with NUL, CR or LF, is an error (400); other
 * characters make an invalid header, ignored under ignore_invalid_headers.
 */
function checkName(name: string, value: string, limits: StreamHeadLimits): "ok" | "error" | "ignored" {
  let invalid = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if ((ch >= 0x61 && ch <= 0x7a) || ch === 0x2d || (ch >= 0x30 && ch <= 0x39)) continue;
    if (ch === 0x5f && limits.underscoresInHeaders) continue;
    if (ch <= 0x20 || ch === 0x7f || ch === 0x3a || (ch >= 0x41 && ch <= 0x5a)) return "error";
    invalid = true;
  }
  if (/[\0\r\n]/.test(value)) return "error";
  return invalid && limits.ignoreInvalidHeaders ? "ignored" : "ok";
}

/** The stream is answered `status`; the log line has the host the headers had so far, as nginx's has. */
function refused(status: number, reason: string, host: string | undefined): StreamRequest {
  const parse = { kind: "error", status, reason, ...(host !== undefined ? { host } : {}) } as const;
  return { parse, extendedConnect: false, head: false };
}

function connectionFailed(reason: string): StreamRequest {
  return {
    parse: { kind: "error", status: 400, reason },
    extendedConnect: false,
    head: false,
    connectionError: { code: constants.NGHTTP2_ENHANCE_YOUR_CALM, reason },
  };
}
