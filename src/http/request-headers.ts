/**
 * The header checks of ngx_http_process_request_headers() and
 * ngx_http_process_request_header(): Host, Content-Length,
 * Transfer-Encoding, Connection, with nginx's refusals and their codes.
 */

import type { RequestHead } from "./request-head.js";
import { parseAuthority, validateHost } from "./host.js";
import { isHeader } from "../core/header-name.js";

export type BodyFraming =
  { readonly kind: "none" } | { readonly kind: "length"; readonly length: number } | { readonly kind: "chunked" };

export interface RequestFacts {
  /** Lower-cased host without port: from an absolute target, else the Host header; "" if none. */
  readonly host: string;
  readonly framing: BodyFraming;
  /** The client asked to keep the connection (HTTP/1.1 default, or "keep-alive" on 1.0). */
  readonly keepAlive: boolean;
  /** The request carries an Upgrade header (a tunnel is possible if the upstream agrees). */
  readonly upgrade: boolean;
  readonly expectContinue: boolean;
}

export type FactsResult = { readonly ok: RequestFacts } | { readonly status: number; readonly reason: string };

type Header = readonly [string, string];

export function requestFacts(head: RequestHead): FactsResult {
  let hostHeader: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connectionType: "close" | "keep-alive" | undefined;
  let upgrade = false;
  let expectContinue = false;
  // The first line of each header nginx refuses a second time (ngx_http_process_unique_header_line): 400.
  let firstHost: Header | undefined;
  let firstLength: Header | undefined;
  let firstCoding: Header | undefined;
  let firstAuthorization: Header | undefined;
  // Names compared without a lower-cased copy of each (this runs for every header of every request).
  for (const header of head.headers) {
    const [name, value] = header;
    if (isHeader(name, "host")) {
      if (firstHost) return duplicate("host header", header, firstHost);
      firstHost = header;
      hostHeader = value;
    } else if (isHeader(name, "content-length")) {
      if (firstLength) return duplicate("header line", header, firstLength);
      firstLength = header;
      contentLength = value;
    } else if (isHeader(name, "transfer-encoding")) {
      if (firstCoding) return duplicate("header line", header, firstCoding);
      firstCoding = header;
      transferEncoding = value;
    } else if (isHeader(name, "authorization")) {
      if (firstAuthorization) return duplicate("header line", header, firstAuthorization);
      firstAuthorization = header;
    } else if (isHeader(name, "connection")) connectionType = connectionTypeOf(value) ?? connectionType;
    else if (isHeader(name, "upgrade")) upgrade = true;
    else if (isHeader(name, "expect") && value.toLowerCase() === "100-continue") expectContinue = true;
  }

  const host = requestHost(head.target, hostHeader);
  if (host === undefined) return refuse("client sent invalid host header");
  // nginx asks for the Host header itself: an absolute-form target does not stand in for it.
  if (hostHeader === undefined && head.version >= 1001) {
    return refuse(`client sent HTTP/1.1 request without "Host" header`);
  }

  const framing = bodyFraming(head, contentLength, transferEncoding);
  if ("status" in framing) return framing;

  // ngx_http_handler(): HTTP/1.1 keeps the connection unless told otherwise, HTTP/1.0 only when asked.
  const keepAlive = connectionType === undefined ? head.version >= 1001 : connectionType === "keep-alive";
  return { ok: { host, framing, keepAlive, upgrade, expectContinue } };
}

/**
 * ngx_http_process_connection(), for each Connection line (the last that
 * says something wins): "close" anywhere in the value, else "keep-alive"
 * anywhere, as nginx searches the text, not its tokens.
 */
function connectionTypeOf(value: string): "close" | "keep-alive" | undefined {
  const lower = value.toLowerCase();
  if (lower.includes("close")) return "close";
  if (lower.includes("keep-alive")) return "keep-alive";
  return undefined;
}

function duplicate(what: string, [name, value]: Header, [firstName, firstValue]: Header): FactsResult {
  return refuse(`client sent duplicate ${what}: "${name}: ${value}", previous value: "${firstName}: ${firstValue}"`);
}

function refuse(reason: string, status = 400): { status: number; reason: string } {
  return { status, reason };
}

function bodyFraming(
  head: RequestHead,
  contentLength: string | undefined,
  transferEncoding: string | undefined,
): BodyFraming | { status: number; reason: string } {
  // nginx's order: the length's syntax, then Transfer-Encoding (an unknown coding is 501 even beside a length).
  if (contentLength !== undefined && !/^\d{1,15}$/.test(contentLength)) {
    return refuse(`client sent invalid "Content-Length" header`);
  }
  if (transferEncoding !== undefined) {
    if (head.version < 1001) {
      return refuse(`client sent HTTP/1.0 request with "Transfer-Encoding" header`);
    }
    if (transferEncoding.toLowerCase() !== "chunked") {
      return refuse(`client sent unknown "Transfer-Encoding": "${transferEncoding}"`, 501);
    }
    if (contentLength !== undefined) {
      return refuse(`client sent "Content-Length" and "Transfer-Encoding" headers at the same time`);
    }
    return { kind: "chunked" };
  }
  if (contentLength !== undefined) {
    const length = Number(contentLength);
    return length === 0 ? { kind: "none" } : { kind: "length", length };
  }
  return head.bodyToStreamEnd === true ? { kind: "chunked" } : { kind: "none" };
}

/**
 * The host that selects the server: an absolute-form target's, else the Host
 * header's. The Host header is checked even when the target names the host
 * (ngx_http_process_host()); undefined when it is invalid.
 */
function requestHost(target: string, hostHeader: string | undefined): string | undefined {
  const header = hostHeader === undefined ? "" : validateHost(hostHeader);
  if (header === undefined) return undefined;
  const authority = target.startsWith("/") ? undefined : parseAuthority(target);
  // The request line's host was checked when the line was read (request-head.ts).
  return authority ? (validateHost(authority.host) ?? "") : header;
}
