/**
 * `least_conn` (ngx_http_upstream_least_conn_module): the peer with the
 * fewest connections for its weight (conns/weight compared as
 * conns_a * weight_b < conns_b * weight_a); ties go to smooth weighted
 * round-robin among the tied peers. Connections count until they close, so an
 * upgraded tunnel holds its peer's count for its whole life.
 */

import { RoundRobinState, type Balancer, type PeerLists, type Selection } from "./balancer.js";
import { take, usable, type Peer } from "./peer.js";

export class LeastConn implements Balancer {
  constructor(private readonly lists: PeerLists) {}

  select(): Selection {
    const state = new RoundRobinState(this.lists);
    return { pick: (nowMs) => pickLeastConn(state, nowMs) };
  }
}

function pickLeastConn(state: RoundRobinState, nowMs: number): Peer | undefined {
  const peers = state.current;
  let best: Peer | undefined;
  let bestIndex = 0;
  let many = false;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i]!;
    if (state.tried.has(peer) || !usable(peer, nowMs)) continue;
    if (!best || peer.active * best.weight < best.active * peer.weight) {
      best = peer;
      bestIndex = i;
      many = false;
    } else if (peer.active * best.weight === best.active * peer.weight) {
      many = true;
    }
  }
  if (!best) return state.toBackups() ? pickLeastConn(state, nowMs) : undefined;
  if (many) {
    let total = 0;
    for (let i = bestIndex; i < peers.length; i++) {
      const peer = peers[i]!;
      if (state.tried.has(peer) || !usable(peer, nowMs)) continue;
      if (peer.active * best.weight !== best.active * peer.weight) continue;
      peer.currentWeight += peer.effectiveWeight;
      total += peer.effectiveWeight;
      if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
      if (peer.currentWeight > best.currentWeight) best = peer;
    }
    best.currentWeight -= total;
  }
  state.tried.add(best);
  return take(best, nowMs);
}
