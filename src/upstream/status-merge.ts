/**
 * wsgate_upstream_status as the group sees it: every serving process keeps
 * its own view of each peer (nginx's workers share theirs in the upstream's
 * zone; Node's processes cannot), so the views are merged. The view of the
 * process that answers gives the list (its configuration); a peer is matched
 * in the other views by group, server and address. Counts add up (open
 * connections and tunnels, requests, failures, idle keepalive connections);
 * the state is the one every process sees, "down" where all see it other than
 * up without agreeing why, and "partly-down" where some see it up and some do
 * not, with `workers` (views merged) and `down_in` (views not up) saying how
 * many. The health check's counts are the answering process's own: each
 * process checks on its own, and their consecutive counts do not add up.
 */

import type { GroupStatus, PeerStatus, UpstreamStatus } from "./status.js";

/** `own` merged with the other processes' views (no other view: `own` unchanged). */
export function mergeUpstreamStatus(own: UpstreamStatus, others: readonly UpstreamStatus[]): UpstreamStatus {
  if (others.length === 0) return own;
  const upstreams: Record<string, GroupStatus> = {};
  for (const [name, group] of Object.entries(own.upstreams)) {
    const groups = others.map((view) => view.upstreams[name]).filter((g): g is GroupStatus => g !== undefined);
    upstreams[name] = mergeGroup(group, groups);
  }
  return { upstreams };
}

function mergeGroup(own: GroupStatus, others: readonly GroupStatus[]): GroupStatus {
  const keepalive = own.keepalive && {
    idle: own.keepalive.idle + others.reduce((sum, g) => sum + (g.keepalive?.idle ?? 0), 0),
    max: own.keepalive.max,
  };
  return {
    method: own.method,
    ...(keepalive ? { keepalive } : {}),
    peers: own.peers.map((peer) =>
      mergePeer(
        peer,
        others.flatMap((g) => g.peers.filter((p) => samePeer(p, peer))),
      ),
    ),
  };
}

function samePeer(a: PeerStatus, b: PeerStatus): boolean {
  return a.server === b.server && a.address === b.address && a.backup === b.backup;
}

function mergePeer(own: PeerStatus, others: readonly PeerStatus[]): PeerStatus {
  const all = [own, ...others];
  const sum = (field: "active" | "requests" | "fails"): number => all.reduce((n, p) => n + p[field], 0);
  const downIn = all.filter((p) => p.state !== "up").length;
  return {
    ...own,
    state: mergedState(all.map((p) => p.state)),
    active: sum("active"),
    requests: sum("requests"),
    fails: sum("fails"),
    workers: all.length,
    down_in: downIn,
  };
}

/** The state every view agrees on; else "down" (none up) or "partly-down" (some up). */
export function mergedState(states: readonly string[]): string {
  const first = states[0] ?? "up";
  if (states.every((state) => state === first)) return first;
  return states.includes("up") ? "partly-down" : "down";
}
