/**
 * The speed limits an upstream's response brings: X-Accel-Limit-Rate (the
 * client's limit for this response, ngx_http_upstream_process_limit_rate),
 * and proxy_limit_rate, which paces reading the body from the upstream when
 * the response is buffered (proxy_buffering, or X-Accel-Buffering: yes), as
 * nginx's event pipe does; an unbuffered response is read at the client's pace.
 */

import type { LocConf } from "../config/model.js";
import type { HttpRequest } from "../http/request.js";
import { ReadLimiter, sizeOf } from "../http/rate-limit.js";
import type { ResponseHead } from "./response-head.js";

function firstHeader(head: ResponseHead, name: string): string | undefined {
  return head.headers.find(([key]) => key.toLowerCase() === name)?.[1];
}

/** X-Accel-Limit-Rate: bytes a second (ngx_atoi: digits only; anything else is ignored), unless proxy_ignore_headers names it. */
export function acceptAccelLimitRate(r: HttpRequest, head: ResponseHead): void {
  if (r.loc.proxyIgnoreHeaders.has("x-accel-limit-rate")) return;
  const value = firstHeader(head, "x-accel-limit-rate");
  if (value !== undefined && /^\d+$/.test(value)) r.limitRate = Number(value);
}

/** The reader's pace for proxy_limit_rate, or undefined when reading is not limited. */
export function upstreamReadLimiter(
  r: HttpRequest,
  loc: LocConf,
  head: ResponseHead,
  hold: () => void,
  release: () => void,
): ReadLimiter | undefined {
  const accel = loc.proxyIgnoreHeaders.has("x-accel-buffering")
    ? undefined
    : firstHeader(head, "x-accel-buffering")?.toLowerCase();
  const buffering = accel === "yes" ? true : accel === "no" ? false : loc.proxyBuffering;
  if (!buffering) return undefined;
  const rate = sizeOf(r, loc.proxyLimitRate);
  return rate > 0 ? new ReadLimiter(rate, hold, release) : undefined;
}
