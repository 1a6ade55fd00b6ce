/**
 * A tunnel's timers, as ngx_http_upstream_process_upgraded() sets them. After
 * every event of the tunnel nginx re-arms, from now:
 *   - the upstream's read timer (proxy_read_timeout), unless the upstream
 *     has more to send and nginx stopped reading it because the client has
 *     not taken what it read (its buffer is full, the read event ready);
 *   - the client's write timer (send_timeout) while a write to the client
 *     waits ("client timed out", the request ends as 408);
 *   - the upstream's write timer (proxy_send_timeout) while a write to the
 *     upstream waits ("upstream timed out", 504).
 * So each limit counts from the tunnel's last activity (bytes read either
 * way, a write that made progress), and a send limit applies only while its
 * side is stalled: bytes wait to be written to it — a write returned false
 * (no 'drain' since), or the once-a-second look found its queue not empty
 * (a peer that stops reading while little is sent never makes a write return
 * false, but nginx's write would wait all the same).
 *
 * No timer per tunnel: every tunnel is an entry of one sweeper (each second,
 * as before), and only stalled tunnels are entries of a second, finer one,
 * which also notices a stalled side's progress (its queue shrank: the peer
 * took some; nginx re-arms on such partial writes too) and lets go of a side
 * whose queue is empty.
 */

import type { Socket } from "node:net";
import { IdleSweeper, type IdleEntry } from "./idle-sweeper.js";
import type { TunnelOptions } from "./tunnel-options.js";

/** A side of the tunnel, as a bit of `stalled`. */
export const CLIENT_SIDE = 1;
export const UPSTREAM_SIDE = 2;

export type TimerEnd = "upstream timed out" | "client timed out" | "upstream send timed out";

export interface TimedTunnel extends IdleEntry {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly options: TunnelOptions;
  /** The sides a write waits on (CLIENT_SIDE | UPSTREAM_SIDE bits). */
  stalled: number;
  /** What a stalled side had queued at the last look, to notice progress. */
  clientQueued: number;
  upstreamQueued: number;
  expire(how: TimerEnd): void;
  /** wsgate_ping: ping the quiet sides, end a dead one; false when the tunnel has no frames to ping between. */
  sweepPings?(now: number): boolean;
}

/** How often stalled tunnels are looked at: a send timeout fires at most this late. */
const STALL_SWEEP_MS = 250;

/**
 * How often tunnels with wsgate_ping are looked at: a ping goes out, and a dead side is found, at most this
 * late — fine enough for intervals of a second, four looks a second only for the tunnels that ping.
 */
const PING_SWEEP_MS = 250;

const idle = new IdleSweeper<TimedTunnel>(1000, idleExpired);
/** Tunnels that ping; one that turns out not to follow frames (not a WebSocket) leaves at its first look. */
const pings = new IdleSweeper<TimedTunnel>(PING_SWEEP_MS, (tunnel, now) => tunnel.sweepPings?.(now) !== true);
const stalls = new IdleSweeper<TimedTunnel>(STALL_SWEEP_MS, stallExpired);

/** A new tunnel: its limits count from now. */
export function watchTunnel(tunnel: TimedTunnel): void {
  idle.add(tunnel);
  if (tunnel.options.ping) pings.add(tunnel);
}

/** Bytes wait to be written to `side`: its send limit runs until they are. */
export function sideStalled(tunnel: TimedTunnel, side: number): void {
  if (tunnel.stalled & side) return;
  tunnel.stalled |= side;
  if (side === CLIENT_SIDE) tunnel.clientQueued = tunnel.client.writableLength;
  else tunnel.upstreamQueued = tunnel.upstream.writableLength;
  stalls.add(tunnel);
}

/** `side` drained. */
export function sideDrained(tunnel: TimedTunnel, side: number): void {
  if ((tunnel.stalled & side) === 0) return;
  tunnel.stalled &= ~side;
  if (tunnel.stalled === 0) stalls.remove(tunnel);
}

export function forgetTunnel(tunnel: TimedTunnel): void {
  idle.remove(tunnel);
  stalls.remove(tunnel);
  pings.remove(tunnel);
}

function idleExpired(tunnel: TimedTunnel, now: number): boolean {
  if ((tunnel.stalled & CLIENT_SIDE) === 0 && tunnel.client.writableLength > 0) sideStalled(tunnel, CLIENT_SIDE);
  if ((tunnel.stalled & UPSTREAM_SIDE) === 0 && tunnel.upstream.writableLength > 0) sideStalled(tunnel, UPSTREAM_SIDE);
  // An upstream with more to send, unread because the client is stalled: nginx drops the read timer, send_timeout
  // rules. (A paused socket still reads into its buffer: bytes there mean the upstream sent more.)
  if (tunnel.stalled & CLIENT_SIDE && tunnel.upstream.readableLength > 0) return false;
  // With wsgate_ping the pings are the liveness check: proxy_read_timeout does not end the tunnel.
  // (A tunnel that is not a WebSocket one cannot be pinged: its idle limit holds.)
  if (pings.has(tunnel)) return false;
  const limit = tunnel.options.idleTimeoutMs;
  if (limit <= 0 || now - tunnel.lastActiveMs < limit) return false;
  tunnel.expire("upstream timed out");
  return true;
}

function stallExpired(tunnel: TimedTunnel, now: number): boolean {
  noticeProgress(tunnel, now);
  const quiet = now - tunnel.lastActiveMs;
  const { clientSendTimeoutMs, upstreamSendTimeoutMs } = tunnel.options;
  const clientLate = tunnel.stalled & CLIENT_SIDE && clientSendTimeoutMs > 0 && quiet >= clientSendTimeoutMs;
  const upstreamLate = tunnel.stalled & UPSTREAM_SIDE && upstreamSendTimeoutMs > 0 && quiet >= upstreamSendTimeoutMs;
  if (!clientLate && !upstreamLate) return tunnel.stalled === 0;
  // Both late in one sweep: the shorter limit fired first.
  const client = clientLate && (!upstreamLate || clientSendTimeoutMs <= upstreamSendTimeoutMs);
  tunnel.expire(client ? "client timed out" : "upstream send timed out");
  return true;
}

/**
 * A stalled side whose queue shrank since the last look took bytes: that is
 * activity, as a partial write in nginx. A side with nothing queued is no
 * longer stalled ('drain' may not come: after end(), or when no write
 * returned false).
 */
function noticeProgress(tunnel: TimedTunnel, now: number): void {
  if (tunnel.stalled & CLIENT_SIDE) {
    const queued = tunnel.client.writableLength;
    if (queued < tunnel.clientQueued) tunnel.lastActiveMs = now;
    tunnel.clientQueued = queued;
    if (queued === 0) tunnel.stalled &= ~CLIENT_SIDE;
  }
  if (tunnel.stalled & UPSTREAM_SIDE) {
    const queued = tunnel.upstream.writableLength;
    if (queued < tunnel.upstreamQueued) tunnel.lastActiveMs = now;
    tunnel.upstreamQueued = queued;
    if (queued === 0) tunnel.stalled &= ~UPSTREAM_SIDE;
  }
}

/** The error-log line of a tunnel ended by a timer, in nginx's words ("while proxying upgraded connection"). */
export function timeoutLine(how: string): { readonly level: "error" | "info"; readonly message: string } | undefined {
  const suffix = " (110: Connection timed out) while proxying upgraded connection";
  switch (how) {
    // nginx logs every one of these at "info": ngx_connection_error() on the client connection, whose
    // log_error is NGX_ERROR_INFO (checked against nginx for the read timeout too).
    case "upstream timed out":
    case "upstream send timed out":
      return { level: "info", message: `upstream timed out${suffix}` };
    case "client timed out":
      return { level: "info", message: `client timed out${suffix}` };
    default:
      return undefined;
  }
}
