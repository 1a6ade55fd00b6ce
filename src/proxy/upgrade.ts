/**
 * The "upgrade" phase (ngx_http_upstream_upgrade): a 101 to a request that
 * asked to upgrade. The client gets the 101 head, both sockets go to the
 * tunnel (tunnel.ts), which keeps its own idle time; the request is logged
 * when the tunnel closes. The handshake, the tunnel's life and its end are
 * counted for the metrics (ws-metrics.ts).
 */

import type { ProxyContext } from "./context.js";
import type { ResponseHead } from "./response-head.js";
import { proxiedHead } from "./response-headers.js";
import { adjustResponseHead } from "./response-rewrite.js";
import { startTunnel, tunnelMainFor, tunnelOptionsFor, type TunnelEnd } from "./tunnel.js";
import type { TunnelLine } from "./tunnel-close.js";
import type { Guard, UpstreamAttempt } from "./upstream-attempt.js";
import { tunnelClosed, tunnelOpened } from "./ws-metrics.js";
import { countUpgrade } from "../http/http-metrics.js";

export function upgradeToTunnel(
  ctx: ProxyContext,
  attempt: UpstreamAttempt,
  upstreamHead: ResponseHead,
  rest: Buffer | undefined,
  guard: Guard,
  closed: (how: TunnelEnd, line: TunnelLine | undefined) => void,
): void {
  const { r, services } = ctx;
  const changes = adjustResponseHead(r, ctx.location, upstreamHead);
  const head = changes.head;
  const { head: text, headers } = proxiedHead(r, head, ctx.location.loc, { chunked: false, end: "upgrade" }, changes);
  // Over HTTP/2 (RFC 8441) the client's stream is answered 200, and the request is logged so.
  r.status = ctx.connection.http2 ? 200 : 101;
  const openedMs = Date.now();
  countUpgrade(r.status);
  tunnelOpened(openedMs - r.startMs);
  // A tunnel lives for hours: keep its header lists only if a log line will read them.
  if (services.keepsResponseHeaders) r.responseHeaders = headers;
  r.keepOnlyHeaders(services.requestHeadersRead);
  r.headerBytes = text.length;
  ctx.connection.write(text);
  // The tunnel keeps its own idle time for both sockets; this socket's timer is not needed.
  attempt.socket.setTimeout(0);
  attempt.handOverToTunnel();
  // The tunnel's end is counted before the request hears of it (a request already over still had a tunnel).
  const ended = guard(closed);
  const onClose = (how: TunnelEnd, line: TunnelLine | undefined): void => {
    tunnelClosed(how, Date.now() - openedMs, r.wsTunnel);
    ended(how, line);
  };
  const { socket: client, leftover } = ctx.connection.detach();
  client.setNoDelay(true);
  r.wsTunnel = startTunnel({
    client,
    upstream: attempt.socket,
    fromClient: leftover,
    fromUpstream: rest,
    options: tunnelOptionsFor(ctx.location.loc, tunnelMainFor(r.server)),
    websocket: head.headers.some(([name, value]) => /^upgrade$/i.test(name) && /^\s*websocket\s*$/i.test(value)),
    onClose,
    onNative: () => services.errorLogFor(r).log("debug", "upgraded connection handed to the native tunnel"),
  });
}
