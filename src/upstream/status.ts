/**
 * wsgate_upstream_status: a location that answers with the state of every
 * upstream group as JSON: per peer its address, whether it is usable, the
 * connections it holds (requests and tunnels), the requests sent to it, its
 * passive-health failures, and the active health check's counts when the
 * group has one. This is one process's view; with several workers the views
 * are merged into the group's (status-merge.ts). The content handler that
 * answers with it is src/proxy/upstream-status.ts.
 */

import type { UpstreamGroup } from "./group.js";
import { failedRecently, type Peer } from "./peer.js";

export interface PeerStatus {
  readonly server: string;
  readonly address: string;
  readonly backup: boolean;
  readonly weight: number;
  /** down, checked-down, unavailable, full, up; merged over workers: one of them, or "partly-down". */
  readonly state: string;
  readonly active: number;
  readonly requests: number;
  readonly fails: number;
  readonly max_fails: number;
  readonly max_conns: number;
  readonly health_check?: { readonly passes: number; readonly fails: number; readonly last: string };
  /** Merged views only: how many processes see the peer, and how many of them see it other than up. */
  readonly workers?: number;
  readonly down_in?: number;
}

export interface GroupStatus {
  readonly method: string;
  readonly keepalive?: { readonly idle: number; readonly max: number };
  readonly peers: readonly PeerStatus[];
}

export interface UpstreamStatus {
  readonly upstreams: Readonly<Record<string, GroupStatus>>;
}

export function upstreamStatus(groups: ReadonlyMap<string, UpstreamGroup>, nowMs: number): UpstreamStatus {
  const upstreams: Record<string, GroupStatus> = {};
  for (const [name, group] of groups) {
    if (group.conf.implicit) continue;
    const checker = group.healthChecker;
    const peer = (p: Peer): PeerStatus => {
      const health = checker?.health.get(p);
      return {
        server: p.name,
        address: p.address.text,
        backup: p.backup,
        weight: p.weight,
        state: peerState(p, nowMs),
        active: p.active,
        requests: p.requests,
        fails: p.fails,
        max_fails: p.maxFails,
        max_conns: p.maxConns,
        ...(health
          ? { health_check: { passes: health.passes, fails: health.fails, last: health.last || "pending" } }
          : {}),
      };
    };
    upstreams[name] = {
      method: group.conf.balancing?.kind ?? "round-robin",
      ...(group.keepalive ? { keepalive: { idle: group.keepalive.size, max: group.keepalive.conf.max } } : {}),
      peers: [...group.peers, ...group.backups].map(peer),
    };
  }
  return { upstreams };
}

/** down (written so), checked-down (by wsgate_health_check), unavailable (max_fails), full (max_conns), up. */
function peerState(peer: Peer, nowMs: number): string {
  if (peer.down) return "down";
  if (peer.checkDown) return "checked-down";
  if (failedRecently(peer, nowMs)) return "unavailable";
  if (peer.maxConns > 0 && peer.active >= peer.maxConns) return "full";
  return "up";
}
