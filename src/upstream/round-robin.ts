/**
 * nginx's default method (ngx_http_upstream_get_round_robin_peer): smooth
 * weighted round-robin over the primary peers, then over the backups when no
 * primary is usable. For the same weights it makes the same sequence of picks.
 */

import { RoundRobinState, type Balancer, type PeerLists, type Selection } from "./balancer.js";
import { atMaxConns, isDown, take, usable, type Peer } from "./peer.js";

export class RoundRobin implements Balancer {
  constructor(private readonly lists: PeerLists) {}

  select(): Selection {
    const state = new RoundRobinState(this.lists);
    return { pick: (nowMs) => pickRoundRobin(state, nowMs) };
  }
}

export function pickRoundRobin(state: RoundRobinState, nowMs: number): Peer | undefined {
  if (state.lists.single && !state.onBackup) {
    // One peer: max_fails does not apply, only down and max_conns.
    const peer = state.lists.primary[0]!;
    if (isDown(peer) || atMaxConns(peer)) return undefined;
    state.tried.add(peer);
    return take(peer, nowMs);
  }
  const peer = smoothWeighted(state.current, state.tried, nowMs);
  if (peer) {
    state.tried.add(peer);
    return take(peer, nowMs);
  }
  return state.toBackups() ? pickRoundRobin(state, nowMs) : undefined;
}

/** ngx_http_upstream_get_peer(): the usable, untried peer with the highest current weight. */
export function smoothWeighted(
  peers: readonly Peer[],
  tried: ReadonlySet<Peer>,
  nowMs: number,
  filter?: (peer: Peer) => boolean,
): Peer | undefined {
  let best: Peer | undefined;
  let total = 0;
  for (const peer of peers) {
    if (tried.has(peer) || !usable(peer, nowMs)) continue;
    if (filter && !filter(peer)) continue;
    peer.currentWeight += peer.effectiveWeight;
    total += peer.effectiveWeight;
    if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
    if (!best || peer.currentWeight > best.currentWeight) best = peer;
  }
  if (best) best.currentWeight -= total;
  return best;
}
