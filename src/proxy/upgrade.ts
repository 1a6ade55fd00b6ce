/**
 * The "upgrade" phase (ngx_http_upstream_upgrade): a 101 to a request that
 * asked to upgrade. The client gets the 101 head, both sockets go to the
 * tunnel (tunnel.ts), which keeps its own idle time; the request is logged
 * when the tunnel closes. The handshake, the tunnel's life and its end are
 * counted for the metrics (ws-metrics.ts).
 *
 * A tunnel lives for hours and a chat server holds tens of thousands, so the
 * hand-over lets go of everything the end does not read: the session, the
 * try with its listeners and timers, their closures. What stays is one
 * TunnelRecord — the request (trimmed to what its log line reads), the try's
 * record and peer — whose end() the tunnel calls.
 */

import type { Socket } from "node:net";
import type { LogLevel } from "../config/model.js";
import { upstreamUrlFor, type ProxyContext } from "./context.js";
import type { ResponseHead } from "./response-head.js";
import { proxiedHead } from "./response-headers.js";
import { adjustResponseHead } from "./response-rewrite.js";
import { startTunnel, timeoutLine, tunnelMainFor, tunnelOptionsFor, type TunnelEnd } from "./tunnel.js";
import type { TunnelLine } from "./tunnel-close.js";
import type { TunnelledTry, UpstreamAttempt } from "./upstream-attempt.js";
import { upstreamErrorVerdict } from "./upstream-failure.js";
import { tunnelClosed, tunnelOpened } from "./ws-metrics.js";
import { countUpgrade } from "../http/http-metrics.js";

export function upgradeToTunnel(
  ctx: ProxyContext,
  attempt: UpstreamAttempt,
  upstreamHead: ResponseHead,
  rest: Buffer | undefined,
  body: { dispose(): void },
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
  const record = new TunnelRecord(ctx, attempt.handOverToTunnel(), body, openedMs, attempt.address.kind === "unix");
  const upstream = attempt.socket as RecordedSocket;
  upstream[kRecord] = record;
  upstream.on("error", upstreamFailed);
  // The connection is the tunnel's now: no abort reaches the session any more.
  ctx.connection.onAbortHandler = undefined;
  const { socket: client, leftover } = ctx.connection.detach();
  client.setNoDelay(true);
  r.wsTunnel = startTunnel({
    client,
    upstream,
    fromClient: leftover,
    fromUpstream: rest,
    options: tunnelOptionsFor(ctx.location.loc, tunnelMainFor(r.server)),
    websocket: head.headers.some(([name, value]) => /^upgrade$/i.test(name) && /^\s*websocket\s*$/i.test(value)),
    onClose: record.end.bind(record),
    onNative: (shell) => {
      record.native();
      ctx.connection.tunnelShell(shell);
      services.errorLogFor(r).log("debug", "upgraded connection handed to the native tunnel");
    },
  });
}

const kRecord = Symbol("wsgate.tunnelRecord");
type RecordedSocket = Socket & { [kRecord]?: TunnelRecord };

/** The upstream socket failed during the tunnel (shared by every tunnel: no closure per tunnel). */
function upstreamFailed(this: RecordedSocket, err: Error): void {
  this[kRecord]?.upstreamError(err);
}

/** What the end of one tunnel needs: its request, its try's record and peer, the request body to drop. */
class TunnelRecord {
  constructor(
    private readonly ctx: ProxyContext,
    private readonly tried: TunnelledTry,
    private readonly body: { dispose(): void },
    private readonly openedMs: number,
    private readonly unixPeer: boolean,
  ) {}

  /** The native tunnel took over: the upstream socket goes, its counts come to end(). */
  native(): void {
    this.tried.forgetSocket();
  }

  /** ngx_http_upstream_process_upgraded()'s recv() failure, in the session's words for an error in a tunnel. */
  upstreamError(err: Error): void {
    const facts = { connected: true, handshaking: false, unixPeer: undefined, requestSent: true } as const;
    this.guarded(() => {
      const verdict = upstreamErrorVerdict(err, { ...facts, responding: "upgrade" });
      this.log(verdict.level, verdict.message);
    });
  }

  /** Both sides closed: counted first (a request already over still had a tunnel), then logged. */
  end(how: TunnelEnd, line: TunnelLine | undefined, upstreamBytes?: readonly [number, number]): void {
    tunnelClosed(how, Date.now() - this.openedMs, this.ctx.r.wsTunnel);
    this.guarded(() => {
      // The tunnel held its peer's connection count until now (least_conn, max_conns).
      this.tried.close(upstreamBytes);
      this.body.dispose();
      // A WebSocket feature's reason for ending the tunnel, else a timer's line.
      const logged = line ?? timeoutLine(how);
      if (logged) this.log(logged.level, logged.message);
      this.ctx.services.finalizeTunnel(this.ctx.r);
    });
  }

  private log(level: LogLevel, message: string): void {
    const { r, services } = this.ctx;
    const url = upstreamUrlFor(this.ctx, this.tried.record.addr, this.unixPeer);
    services.errorLogFor(r).log(level, message, r.logContext(undefined, url));
  }

  /** A throw is a bug of this request: its peer and body go, and the flow logs an alert (as the session's guard). */
  private guarded(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.tried.free();
      this.body.dispose();
      this.ctx.services.crash(this.ctx.r, err);
    }
  }
}
