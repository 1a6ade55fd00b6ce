/**
 * The response head sent to the client for an upstream's response, in the
 * shape of nginx's header filter: status line (the upstream's reason phrase
 * kept), Server, Date, Content-Type, Content-Length, Last-Modified, Location,
 * Transfer-Encoding, Connection, Keep-Alive (the response writer's, by its
 * keep-alive rule: proxiedHead()), then the upstream's other headers in
 * their order. Hop-by-hop headers (but Upgrade, which nginx
 * passes) and nginx's default hidden ones (Date, Server, X-Pad, X-Accel-*)
 * are not passed.
 */

import type { LocConf } from "../config/model.js";
import { HIDDEN_BY_DEFAULT as HIDDEN_HEADERS } from "../config/modules/proxy-buffers.js";
import type { HttpRequest } from "../http/request.js";
import { connectionLines, headText, type BodyEnd } from "../http/response-writer.js";
import { SERVER_TOKEN, SERVER_TOKEN_BARE } from "../version.js";
import { formatHttpDate } from "../vars/time.js";
import type { ResponseHead } from "./response-head.js";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection"]);
const HIDDEN_BY_DEFAULT: ReadonlySet<string> = new Set(HIDDEN_HEADERS);
/*
 * Content-Type and Content-Length (the first of each) are written by the
 * header filter in its own place, before the other headers. (Last-Modified
 * and Location, which nginx also places for its own responses, keep the
 * upstream's order on a proxied one.)
 */

/** What the rewrite of the head (proxy_redirect, add_header) adds in the filter's places. */
export interface HeadExtras {
  /** A Location made absolute by the header filter, written after Content-Length. */
  readonly placedLocation?: string | undefined;
  /** add_header lines, after every other header. */
  readonly added?: ReadonlyArray<[string, string]>;
  /** gzip_vary's line, written by the header filter after Connection. */
  readonly vary?: ReadonlyArray<[string, string]>;
}

export interface ClientHead {
  readonly head: string;
  readonly headers: Array<[string, string]>;
}

/**
 * The relay's head for the client: `chunked` when the body is sent with
 * chunked coding, `end` how the client learns where the body ends (see
 * relayBodyEnd()). `keepAlive` is the response writer's decision, to hand to
 * the flow's finalize() once the body is through.
 */
export function proxiedHead(
  r: HttpRequest,
  upstream: ResponseHead,
  loc: LocConf,
  body: { readonly chunked: boolean; readonly end: BodyEnd },
  extras: HeadExtras = {},
): ClientHead & { readonly keepAlive: boolean } {
  const connection = connectionLines(r, body.end);
  const head = composeHead(upstream, loc, body.chunked, connection.lines, extras);
  return { ...head, keepAlive: connection.keepAlive };
}

/**
 * How the client learns where a relayed body ends: a 101 becomes a tunnel;
 * a length, no body, chunks, or a 1xx other than 101 (nginx's chunked filter
 * leaves responses under 200 alone and keeps r->keepalive) are framed; else
 * only the close tells (HTTP/1.0 client, chunked_transfer_encoding off).
 */
export function relayBodyEnd(status: number, framing: string, clientChunked: boolean): BodyEnd {
  if (status === 101) return "upgrade";
  if (framing === "length" || framing === "none" || clientChunked || status < 200) return "framed";
  return "close";
}

function composeHead(
  upstream: ResponseHead,
  loc: LocConf,
  chunked: boolean,
  connection: ReadonlyArray<[string, string]>,
  extras: HeadExtras,
): ClientHead {
  // One pass over the upstream's headers, each name lower-cased once.
  let contentType: [string, string] | undefined;
  let contentLength: [string, string] | undefined;
  // An upstream Server or Date let through by proxy_pass_header replaces wsgate's own, in the upstream's place.
  let sendsServer = false;
  let sendsDate = false;
  const others: Array<[string, string]> = [];
  for (const header of upstream.headers) {
    const lower = header[0].toLowerCase();
    if (!passes(lower, loc, chunked)) continue;
    if (lower === "content-type" && !contentType) contentType = header;
    else if (lower === "content-length" && !contentLength) contentLength = header;
    else {
      if (lower === "server") sendsServer = true;
      else if (lower === "date") sendsDate = true;
      others.push(header);
    }
  }
  const sent: Array<[string, string]> = [];
  if (!sendsServer) sent.push(["Server", loc.serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN]);
  if (!sendsDate) sent.push(["Date", formatHttpDate(Date.now())]);
  if (contentType) sent.push(contentType);
  if (contentLength) sent.push(contentLength);
  if (extras.placedLocation !== undefined) sent.push(["Location", extras.placedLocation]);
  if (chunked) sent.push(["Transfer-Encoding", "chunked"]);
  sent.push(...connection);
  if (extras.vary) sent.push(...extras.vary);
  sent.push(...others);
  if (extras.added) sent.push(...extras.added);
  return { head: headText(`HTTP/1.1 ${upstream.statusText}`, sent), headers: sent };
}

/** The upstream's headers that reach the client's head (what nginx's filters see in headers_out). */
export function passedHeaders(upstream: ResponseHead, loc: LocConf): Array<[string, string]> {
  return upstream.headers.filter(([name]) => passes(name.toLowerCase(), loc, false));
}

function passes(lower: string, loc: LocConf, chunked: boolean): boolean {
  if (HOP_BY_HOP.has(lower)) return false;
  // Upgrade is not hop-by-hop to nginx: it passes with a 101 and with any other status (a 426 must carry it).
  if (lower === "content-length" && chunked) return false;
  if (loc.proxyHideHeaders.includes(lower)) return false;
  if (HIDDEN_BY_DEFAULT.has(lower)) return loc.proxyPassHeaders.includes(lower);
  return true;
}
