/**
 * The response head sent to the client for an upstream's response, in the
 * shape of nginx's header filter: status line (the upstream's reason phrase
 * kept), Server, Date, Content-Type, Content-Length, Last-Modified, Location,
 * Transfer-Encoding, Connection, Keep-Alive, then the upstream's other
 * headers in their order. Hop-by-hop headers (but Upgrade, which nginx
 * passes) and nginx's default hidden ones (Date, Server, X-Pad, X-Accel-*)
 * are not passed.
 */

import type { LocConf } from "../config/model.js";
import { SERVER_TOKEN, SERVER_TOKEN_BARE } from "../version.js";
import { formatHttpDate } from "../vars/time.js";
import type { ResponseHead } from "./response-head.js";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection"]);
const HIDDEN_BY_DEFAULT = new Set([
  "date",
  "server",
  "x-pad",
  "x-accel-expires",
  "x-accel-redirect",
  "x-accel-limit-rate",
  "x-accel-buffering",
  "x-accel-charset",
]);
/**
 * Written by the header filter in its own place, before the other headers.
 * (Last-Modified and Location, which nginx also places for its own
 * responses, keep the upstream's order on a proxied one.)
 */
const PLACED = ["content-type", "content-length"] as const;

export interface ClientFraming {
  /** Send the body with chunked coding (length unknown, HTTP/1.1 client). */
  readonly chunked: boolean;
  readonly keepAlive: boolean;
  /** A 101 that starts a tunnel: "Connection: upgrade". */
  readonly upgrade: boolean;
  readonly keepAliveHeader?: string | undefined;
}

/** What the rewrite of the head (proxy_redirect, add_header) adds in the filter's places. */
export interface HeadExtras {
  /** A Location made absolute by the header filter, written after Content-Length. */
  readonly placedLocation?: string | undefined;
  /** add_header lines, after every other header. */
  readonly added?: ReadonlyArray<[string, string]>;
}

export function buildClientHead(
  upstream: ResponseHead,
  loc: LocConf,
  framing: ClientFraming,
  extras: HeadExtras = {},
): { head: string; headers: Array<[string, string]> } {
  const passed = upstream.headers.filter(([name]) => passes(name.toLowerCase(), loc, framing));
  const placed = new Map<string, [string, string]>();
  const others: Array<[string, string]> = [];
  for (const header of passed) {
    const lower = header[0].toLowerCase();
    if ((PLACED as readonly string[]).includes(lower) && !placed.has(lower)) placed.set(lower, header);
    else others.push(header);
  }
  // An upstream Server or Date let through by proxy_pass_header replaces wsgate's own, in the upstream's place.
  const upstreamSends = (name: string): boolean => others.some(([other]) => other.toLowerCase() === name);
  const sent: Array<[string, string]> = [];
  if (!upstreamSends("server")) sent.push(["Server", loc.serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN]);
  if (!upstreamSends("date")) sent.push(["Date", formatHttpDate(Date.now())]);
  for (const name of PLACED) {
    const header = placed.get(name);
    if (header) sent.push(header);
  }
  if (extras.placedLocation !== undefined) sent.push(["Location", extras.placedLocation]);
  if (framing.chunked) sent.push(["Transfer-Encoding", "chunked"]);
  if (framing.upgrade) sent.push(["Connection", "upgrade"]);
  else sent.push(["Connection", framing.keepAlive ? "keep-alive" : "close"]);
  if (framing.keepAlive && !framing.upgrade && framing.keepAliveHeader)
    sent.push(["Keep-Alive", framing.keepAliveHeader]);
  sent.push(...others);
  if (extras.added) sent.push(...extras.added);
  let head = `HTTP/1.1 ${upstream.statusText}\r\n`;
  for (const [name, value] of sent) head += `${name}: ${value}\r\n`;
  return { head: head + "\r\n", headers: sent };
}

function passes(lower: string, loc: LocConf, framing: ClientFraming): boolean {
  if (HOP_BY_HOP.has(lower)) return false;
  // Upgrade is not hop-by-hop to nginx: it passes with a 101 and with any other status (a 426 must carry it).
  if (lower === "content-length" && framing.chunked) return false;
  if (loc.proxyHideHeaders.includes(lower)) return false;
  if (HIDDEN_BY_DEFAULT.has(lower)) return loc.proxyPassHeaders.includes(lower);
  return true;
}
