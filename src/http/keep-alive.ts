/**
 * Whether a connection outlives its request: nginx's r->keepalive, one flag
 * per request, written in four places of nginx and read here only.
 *
 * - ngx_http_handler(): the request's own wish (HTTP/1.1 unless "close",
 *   HTTP/1.0 only with "keep-alive": facts.keepAlive). An error met before
 *   the request reached the phases (a bad head, TRACE, plain HTTP on an ssl
 *   port) leaves the flag at 0: such answers always close.
 * - ngx_http_update_location_config(), for every location the request goes
 *   through: `keepalive_timeout 0`, `keepalive_requests` reached, a
 *   connection older than `keepalive_time` (counted from its accept), and
 *   the default `keepalive_disable msie6` (a POST from MSIE 4–6) clear it,
 *   for good — an error_page or internal redirect to another location does
 *   not bring it back.
 * - ngx_http_special_response_handler(): 400, 413, 414, 495–497, 500 and 501
 *   clear it, even when an error_page then answers.
 * - the chunked filter: a response with no length that cannot be chunked
 *   (HTTP/1.0 client, chunked_transfer_encoding off) is ended by the close.
 *
 * The header filter writes "Connection: keep-alive" (and "Keep-Alive:
 * timeout=N") exactly when the flag is set. ngx_http_finalize_connection()
 * then keeps the connection if the flag is set and the location in force has
 * a keepalive_timeout: a `return` at server level with `keepalive_timeout 0`
 * says keep-alive and closes, as nginx does.
 */

import type { LocConf } from "../config/model.js";
import type { HttpRequest } from "./request.js";

/** The statuses ngx_http_special_response_handler() ends the connection after. */
const CLOSING_STATUSES = new Set([400, 413, 414, 495, 496, 497, 500, 501]);

/** Whether nginx's special response for `status` clears r->keepalive. */
export function statusForbidsKeepAlive(status: number): boolean {
  return CLOSING_STATUSES.has(status);
}

/** r->keepalive: what the header filter says in Connection. */
export function keepAliveAllowed(r: HttpRequest): boolean {
  return r.facts.keepAlive && !r.keepAliveLost;
}

/** The request is answered before ngx_http_handler() ran (a bad head, TRACE, 497): r->keepalive is still 0. */
export function answeredBeforeHandler(r: HttpRequest): void {
  r.keepAliveLost = true;
}

/** ngx_http_special_response_handler(): some errors end the connection whatever answers them. */
export function errorMet(r: HttpRequest, status: number): void {
  if (statusForbidsKeepAlive(status)) r.keepAliveLost = true;
}

/** ngx_http_update_location_config() for `loc`, a location the request entered (the one in force by default). */
export function enterLocation(r: HttpRequest, loc: LocConf = r.loc): void {
  if (r.keepAliveLost || !r.facts.keepAlive) return;
  if (loc.keepaliveTimeoutMs === 0 || r.connection.requests >= loc.keepaliveRequests) r.keepAliveLost = true;
  else if (Date.now() - r.connection.startMs > loc.keepaliveTimeMs) r.keepAliveLost = true;
  else if (r.method === "POST" && msie6(r.headers)) r.keepAliveLost = true;
}

/** ngx_http_named_location() updates the location configuration too (error_page and try_files "@name"). */
export function enterNamedLocation(r: HttpRequest, name: string): void {
  const location = r.server.locations.find((candidate) => candidate.modifier === "@" && candidate.path === name);
  if (location) enterLocation(r, location.loc);
}

/** ngx_http_chunked_header_filter(): a body ended only by the close leaves nothing to keep. */
export function bodyEndsWithClose(r: HttpRequest): void {
  r.keepAliveLost = true;
}

/** ngx_http_finalize_connection(): kept for the next request only with a keepalive_timeout where the request ended. */
export function connectionKept(r: HttpRequest, keepAlive: boolean): boolean {
  return keepAlive && r.loc.keepaliveTimeoutMs > 0;
}

/**
 * ngx_http_process_user_agent(): MSIE 4, 5 and 6 (but 6 with "SV1"), not
 * Opera passing as MSIE. nginx reads the first User-Agent line.
 */
export function msie6(headers: ReadonlyArray<readonly [string, string]>): boolean {
  const agent = headers.find(([name]) => name.length === 10 && name.toLowerCase() === "user-agent")?.[1];
  if (agent === undefined) return false;
  const at = agent.indexOf("MSIE ");
  if (at === -1 || at + 7 >= agent.length || agent.includes("Opera")) return false;
  if (agent[at + 6] !== ".") return false;
  const major = agent[at + 5];
  if (major === "4" || major === "5") return true;
  return major === "6" && !agent.includes("SV1", at + 8);
}
