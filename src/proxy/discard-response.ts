/**
 * proxy_ignore_client_abort with the client gone: nginx does not watch the
 * client while it waits for the upstream (ngx_http_upstream_init_request()
 * sets no check_broken_connection handlers), so the request goes on and the
 * response is read to its end — here without a client to give it to. The
 * end is told as the relay's is, so the upstream connection is kept or
 * closed by the same rule and the request is logged with the upstream's status.
 */

import type { ProxyContext } from "./context.js";
import type { RelayEnd } from "./relay.js";
import { readResponseBody, responseFraming } from "./response-body.js";
import type { ResponseHead } from "./response-head.js";
import type { Guard, UpstreamAttempt } from "./upstream-attempt.js";
import { upstreamMethod } from "./upstream-request.js";

export function discardResponse(
  ctx: ProxyContext,
  attempt: UpstreamAttempt,
  head: ResponseHead,
  rest: Buffer | undefined,
  guard: Guard,
  ended: (end: RelayEnd) => void,
): void {
  const { r } = ctx;
  r.status = head.status;
  // A 101 would open a tunnel nobody is at the other end of: the try ends with its head.
  const framing = head.status === 101 ? { kind: "none" as const } : responseFraming(head, upstreamMethod(r));
  const end = guard((outcome: RelayEnd["outcome"]): void =>
    ended({ outcome, head, framing, keepAlive: false, finishClient: () => undefined }),
  );
  readResponseBody(attempt.socket, framing, rest, () => undefined, end);
}
