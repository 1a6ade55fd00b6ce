/**
 * expires (ngx_http_headers_filter_module's ngx_http_set_expires()): the
 * Expires and Cache-Control lines of the level in force, on the statuses
 * add_header uses without `always`. A response that already has them (an
 * upstream's) has them replaced by the caller, as nginx does.
 */

import { parseExpires } from "../config/modules/expires-value.js";
import { formatHttpDate } from "../vars/time.js";
import type { HttpRequest } from "./request.js";

/** The statuses nginx's headers filter calls safe (add_header without `always`, expires). */
export const SAFE_STATUSES: ReadonlySet<number> = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

export interface ExpiresLines {
  readonly expires: string;
  readonly cacheControl: string;
}

/**
 * The two values for a response with `status`; `lastModified` is its
 * Last-Modified in seconds (-1 without one: `modified` then counts from now).
 * undefined when expires sets nothing.
 */
export function expiresLines(r: HttpRequest, status: number, lastModified: number): ExpiresLines | undefined {
  const conf = r.loc.expires;
  if (conf.kind === "off" || !SAFE_STATUSES.has(status)) return undefined;
  let kind = conf.kind;
  let time = conf.seconds;
  if (conf.value !== undefined) {
    // A bad value read per request sets nothing, silently, as nginx's.
    const parsed = parseExpires(conf.value.evaluate(r), kind === "modified" ? "modified" : "access");
    if (typeof parsed === "string" || parsed.kind === "off") return undefined;
    kind = parsed.kind;
    time = parsed.seconds;
  }
  if (kind === "epoch") return { expires: "Thu, 01 Jan 1970 00:00:01 GMT", cacheControl: "no-cache" };
  if (kind === "max") return { expires: "Thu, 31 Dec 2037 23:55:55 GMT", cacheControl: "max-age=315360000" };
  const nowMs = Date.now();
  if (time === 0 && kind !== "daily") return { expires: formatHttpDate(nowMs), cacheControl: "max-age=0" };
  const now = Math.floor(nowMs / 1000);
  let expiresAt: number;
  let maxAge: number;
  if (kind === "daily") {
    expiresAt = nextTime(time, now);
    maxAge = expiresAt - now;
  } else if (kind === "access" || lastModified === -1) {
    maxAge = time;
    expiresAt = now + time;
  } else {
    expiresAt = lastModified + time;
    maxAge = expiresAt - now;
  }
  const expires = formatHttpDate(expiresAt * 1000);
  // nginx tests the configured time (0 for a value read per request) and the age.
  if (conf.seconds < 0 || maxAge < 0) return { expires, cacheControl: "no-cache" };
  return { expires, cacheControl: `max-age=${maxAge}` };
}

/** ngx_next_time(): the next moment (local time) at `when` seconds past midnight, today's if still ahead. */
function nextTime(when: number, now: number): number {
  const today = new Date(now * 1000);
  const at = (dayShift: number): number =>
    Math.floor(
      new Date(
        today.getFullYear(),
        today.getMonth(),
        today.getDate() + dayShift,
        Math.floor(when / 3600),
        Math.floor((when % 3600) / 60),
        when % 60,
      ).getTime() / 1000,
    );
  const next = at(0);
  return next - now > 0 ? next : at(1);
}
