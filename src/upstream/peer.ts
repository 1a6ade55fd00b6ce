/**
 * One address of an upstream `server` line at run time, with the state
 * nginx keeps per peer (ngx_http_upstream_rr_peer_t): weights for the smooth
 * round-robin, passive-health counters for max_fails/fail_timeout, and the
 * number of connections in use (open requests and upgraded tunnels).
 */

import type { UpstreamAddress, UpstreamServerConf } from "../config/model.js";

export interface Peer {
  readonly address: UpstreamAddress;
  /** The `server` line's name as written ("127.0.0.1:8010", "backend.local:80"). */
  readonly name: string;
  readonly weight: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly backup: boolean;
  /** `down` on the server line. */
  readonly down: boolean;
  readonly maxConns: number;
  currentWeight: number;
  effectiveWeight: number;
  fails: number;
  /** When the peer last failed (nginx's `accessed`). */
  accessedMs: number;
  /** When the peer was last chosen after fail_timeout, or failed (nginx's `checked`). */
  checkedMs: number;
  /** Connections in use: requests in flight and open tunnels (nginx's `conns`). */
  active: number;
  /** Marked down by wsgate_health_check. */
  checkDown: boolean;
  /** Times the peer was taken (a request or tunnel sent to it), for wsgate_upstream_status. */
  requests: number;
}

export function makePeers(server: UpstreamServerConf): Peer[] {
  return server.addresses.map((address) => ({
    address,
    name: server.name,
    weight: server.weight,
    maxFails: server.maxFails,
    failTimeoutMs: server.failTimeoutMs,
    backup: server.backup,
    down: server.down,
    maxConns: server.maxConns,
    currentWeight: 0,
    effectiveWeight: server.weight,
    fails: 0,
    accessedMs: 0,
    checkedMs: 0,
    active: 0,
    checkDown: false,
    requests: 0,
  }));
}

/** down, or marked down by an active health check. */
export function isDown(peer: Peer): boolean {
  return peer.down || peer.checkDown;
}

/** max_fails reached within fail_timeout. */
export function failedRecently(peer: Peer, nowMs: number): boolean {
  return peer.maxFails > 0 && peer.fails >= peer.maxFails && nowMs - peer.checkedMs <= peer.failTimeoutMs;
}

export function atMaxConns(peer: Peer): boolean {
  return peer.maxConns > 0 && peer.active >= peer.maxConns;
}

/** What the balancers check before taking a peer: down, max_fails, max_conns. */
export function usable(peer: Peer, nowMs: number): boolean {
  return !isDown(peer) && !failedRecently(peer, nowMs) && !atMaxConns(peer);
}

/** A peer is taken: count the connection, restart fail_timeout's window if it has passed. */
export function take(peer: Peer, nowMs: number): Peer {
  peer.active++;
  peer.requests++;
  if (nowMs - peer.checkedMs > peer.failTimeoutMs) peer.checkedMs = nowMs;
  return peer;
}
