/**
 * wsgate_upstream_status: a location that answers with the state of every
 * upstream group as JSON: per peer its address, whether it is usable, the
 * connections it holds (requests and tunnels), its passive-health failures,
 * and the active health check's counts when the group has one. It keeps the
 * connection as any answer of wsgate's own does (the response writer's rule).
 */

import type { ContentHandler } from "../http/content-handler.js";
import { ownResponseHead } from "../http/own-response.js";
import { sendWhole } from "../http/response-writer.js";
import type { UpstreamGroup } from "./group.js";
import { failedRecently, type Peer } from "./peer.js";

/** The content handler of a `wsgate_upstream_status` location. */
export const upstreamStatusHandler: ContentHandler = {
  name: "wsgate_upstream_status",
  claims: ({ location }) => location?.upstreamStatus === true,
  handle: (r, flow) => {
    const body = Buffer.from(`${JSON.stringify(upstreamStatus(flow.upstreams, Date.now()), null, 2)}\n`);
    const head = ownResponseHead(r, { status: 200, contentType: "application/json", contentLength: body.length });
    sendWhole(r, 200, head, body, (req, keepAlive) => flow.finalize(req, keepAlive));
  },
};

export function upstreamStatus(groups: ReadonlyMap<string, UpstreamGroup>, nowMs: number): object {
  const upstreams: Record<string, object> = {};
  for (const [name, group] of groups) {
    if (group.conf.implicit) continue;
    const checker = group.healthChecker;
    const peer = (p: Peer): object => {
      const health = checker?.health.get(p);
      return {
        server: p.name,
        address: p.address.text,
        backup: p.backup,
        weight: p.weight,
        state: peerState(p, nowMs),
        active: p.active,
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
