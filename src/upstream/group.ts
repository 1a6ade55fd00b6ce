/**
 * An upstream group at run time: its peers with their state, and the
 * balancer that picks one per try. The default balancer is nginx's smooth
 * weighted round-robin (ngx_http_upstream_get_peer): for the same weights it
 * makes the same sequence of picks.
 *
 * Passive health follows max_fails/fail_timeout: a peer that failed
 * max_fails times within fail_timeout is skipped for fail_timeout. A group of
 * one peer never skips it, as nginx ignores max_fails there.
 */

import type { UpstreamAddress, UpstreamConf } from "../config/model.js";

export interface Peer {
  readonly address: UpstreamAddress;
  /** The `server` line's name, as $upstream_addr prints implicit groups by address. */
  readonly name: string;
  readonly weight: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly backup: boolean;
  readonly down: boolean;
  currentWeight: number;
  effectiveWeight: number;
  fails: number;
  /** When the peer was last chosen after failing, or failed (ms). */
  checkedMs: number;
  /** Open connections and tunnels, for least_conn and max_conns. */
  active: number;
  readonly maxConns: number;
}

export class UpstreamGroup {
  readonly peers: readonly Peer[];
  readonly backups: readonly Peer[];

  constructor(readonly conf: UpstreamConf) {
    const all = conf.servers.flatMap((server) =>
      server.addresses.map((address): Peer => ({
        address,
        name: server.name,
        weight: server.weight,
        maxFails: server.maxFails,
        failTimeoutMs: server.failTimeoutMs,
        backup: server.backup,
        down: server.down,
        currentWeight: 0,
        effectiveWeight: server.weight,
        fails: 0,
        checkedMs: 0,
        active: 0,
        maxConns: server.maxConns,
      })),
    );
    this.peers = all.filter((peer) => !peer.backup);
    this.backups = all.filter((peer) => peer.backup);
  }

  /** How many peers one request may try (proxy_next_upstream_tries 0 = all of them). */
  get size(): number {
    return this.peers.length + this.backups.length;
  }

  /** Pick a peer not in `tried`, or undefined when none is live ("no live upstreams"). */
  pick(tried: ReadonlySet<Peer>, nowMs: number): Peer | undefined {
    return pickFrom(this.peers, tried, nowMs) ?? pickFrom(this.backups, tried, nowMs);
  }

  /** A try failed (connect error, timeout …): count it toward max_fails. */
  failed(peer: Peer, nowMs: number): void {
    if (this.peers.length + this.backups.length === 1) return;
    peer.fails++;
    peer.checkedMs = nowMs;
    if (peer.maxFails > 0 && peer.fails >= peer.maxFails) {
      // nginx lowers the effective weight so a recovering peer ramps up again.
      peer.effectiveWeight -= Math.ceil(peer.weight / peer.maxFails);
      if (peer.effectiveWeight < 0) peer.effectiveWeight = 0;
    }
  }

  /** A try succeeded: after fail_timeout the failure count starts over. */
  succeeded(peer: Peer, nowMs: number): void {
    if (peer.fails > 0 && nowMs - peer.checkedMs > peer.failTimeoutMs) peer.fails = 0;
  }
}

function available(peer: Peer, single: boolean, nowMs: number): boolean {
  if (peer.down) return false;
  if (single) return true;
  if (peer.maxConns > 0 && peer.active >= peer.maxConns) return false;
  if (peer.maxFails > 0 && peer.fails >= peer.maxFails && nowMs - peer.checkedMs <= peer.failTimeoutMs) return false;
  return true;
}

/** ngx_http_upstream_get_peer(): smooth weighted round-robin. */
function pickFrom(peers: readonly Peer[], tried: ReadonlySet<Peer>, nowMs: number): Peer | undefined {
  const single = peers.length === 1;
  let best: Peer | undefined;
  let total = 0;
  for (const peer of peers) {
    if (tried.has(peer) || !available(peer, single, nowMs)) continue;
    peer.currentWeight += peer.effectiveWeight;
    total += peer.effectiveWeight;
    if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
    if (!best || peer.currentWeight > best.currentWeight) best = peer;
  }
  if (!best) return undefined;
  best.currentWeight -= total;
  if (nowMs - best.checkedMs > best.failTimeoutMs) best.checkedMs = nowMs;
  return best;
}
