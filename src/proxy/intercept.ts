/**
 * The "intercept" phase (ngx_http_upstream_intercept_errors): with
 * proxy_intercept_errors on, a response whose status has an error_page is
 * not relayed; the upstream connection is closed, the peer freed as after a
 * success (nginx frees it with state 0), and the error_page answers instead.
 */

import type { HttpRequest } from "../http/request.js";
import type { ProxyContext } from "./context.js";
import type { UpstreamAttempt } from "./upstream-attempt.js";

/** proxy_intercept_errors applies: a status of 300 or more with an error_page for it. */
export function intercepts(r: HttpRequest, status: number): boolean {
  const loc = r.loc;
  return loc.proxyInterceptErrors && status >= 300 && loc.errorPages.some((page) => page.status === status);
}

/** The upstream's response is dropped, its peer freed (state 0, as nginx), and the error_page answers. */
export function interceptResponse(
  ctx: ProxyContext,
  attempt: UpstreamAttempt,
  status: number,
  upstreamUrl: string,
): void {
  attempt.closeRecord();
  attempt.free("ok");
  attempt.destroy();
  ctx.r.upstreamForLog = upstreamUrl;
  ctx.services.respondError(ctx.r, status);
}
