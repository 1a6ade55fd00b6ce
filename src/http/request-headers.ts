/**
 * The header checks of ngx_http_process_request_headers() and
 * ngx_http_process_request_header(): Host, Content-Length,
 * Transfer-Encoding, Connection, with nginx's refusals and their codes.
 */

import type { RequestHead } from "./request-head.js";
import { parseAuthority, validateHost } from "./host.js";

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

/** Headers that may appear once; a second one is refused as nginx's unique header lines are. */
const UNIQUE = new Set([
  "host",
  "authorization",
  "content-length",
  "transfer-encoding",
  "if-modified-since",
  "if-unmodified-since",
  "if-match",
  "if-none-match",
  "user-agent",
]);

/** Of those, the ones nginx refuses a second time (ngx_http_process_unique_header_line): 400. */
const REFUSED_TWICE = new Set(["host", "content-length", "transfer-encoding", "authorization"]);

export function requestFacts(head: RequestHead): FactsResult {
  let hostHeader: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connectionType: "close" | "keep-alive" | undefined;
  let upgrade = false;
  let expectContinue = false;
  const seen = new Map<string, readonly [string, string]>();
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (UNIQUE.has(lower)) {
      const previous = seen.get(lower);
      if (previous && REFUSED_TWICE.has(lower)) {
        const what = lower === "host" ? "host header" : "header line";
        return refuse(
          `client sent duplicate ${what}: "${name}: ${value}", previous value: "${previous[0]}: ${previous[1]}"`,
        );
      }
      seen.set(lower, [name, value]);
    }
    if (lower === "host") hostHeader = value;
    else if (lower === "content-length") contentLength = value;
    else if (lower === "transfer-encoding") transferEncoding = value;
    else if (lower === "connection") connectionType = connectionTypeOf(value) ?? connectionType;
    else if (lower === "upgrade") upgrade = true;
    else if (lower === "expect" && value.toLowerCase() === "100-continue") expectContinue = true;
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
