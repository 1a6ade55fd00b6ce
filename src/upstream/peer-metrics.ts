/**
 * Each upstream peer's metrics, labelled with its group (`upstream`) and its
 * address (`peer`): the tries made to it, those that failed (as max_fails
 * counts them), the tunnels it carries now, the time to its response head,
 * and whether this process sees it up (not `down`, not marked down by
 * wsgate_health_check, not out for max_fails within fail_timeout).
 *
 * A peer's series are resolved once, the first time it is tried or its
 * group is recorded, and found again by group and address: a proxy_pass to
 * an address makes a fresh peer for each request (as nginx does), which
 * still counts in the same series. Only the configuration's upstream groups
 * have an `up` series: an address's peer lives for one request.
 */

import { metrics, type Series } from "../core/metrics.js";
import type { UpstreamGroup } from "./group.js";
import { failedRecently, isDown, type Peer } from "./peer.js";

const LABELS = ["upstream", "peer"];

const requests = metrics.family({
  name: "wsgate_upstream_requests_total",
  help: "Tries made to the upstream peer (a request retried on the next peer counts once for each).",
  type: "counter",
  labels: LABELS,
});
const failures = metrics.family({
  name: "wsgate_upstream_failures_total",
  help: "Tries to the upstream peer that failed, as max_fails counts them.",
  type: "counter",
  labels: LABELS,
});
const tunnels = metrics.family({
  name: "wsgate_upstream_tunnels",
  help: "Tunnels open now to the upstream peer.",
  type: "gauge",
  labels: LABELS,
});
const up = metrics.family({
  name: "wsgate_upstream_up",
  help: "1 when every worker may choose the upstream peer (not down, checked down or failed within fail_timeout), else 0.",
  type: "gauge",
  labels: LABELS,
  // The group's view: up only where every worker sees it up, as wsgate_upstream_status's state.
  merge: "min",
});
const response = metrics.family({
  name: "wsgate_upstream_response_seconds",
  help: "Time from the start of a try to the upstream peer's response head.",
  type: "histogram",
  labels: LABELS,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
});

export interface PeerSeries {
  readonly requests: Series;
  readonly failures: Series;
  readonly tunnels: Series;
  readonly response: Series;
}

const byKey = new Map<string, PeerSeries>();
/** A configured group's peer finds its series without making a key (a fresh address peer makes one). */
const byPeer = new WeakMap<Peer, PeerSeries>();
/** The configuration's groups, whose peers' state is read when a snapshot is taken (their current peers). */
const watched = new Set<UpstreamGroup>();

/** The series of `peer` of `group`, made the first time. */
export function peerSeries(group: string, peer: Peer): PeerSeries {
  const known = byPeer.get(peer);
  if (known !== undefined) return known;
  const key = `${group} ${peer.address.text}`;
  let series = byKey.get(key);
  if (series === undefined) {
    const labels = [group, peer.address.text];
    series = {
      requests: requests.series(...labels),
      failures: failures.series(...labels),
      tunnels: tunnels.series(...labels),
      response: response.series(...labels),
    };
    byKey.set(key, series);
  }
  byPeer.set(peer, series);
  return series;
}

/** The configuration's groups: their peers are shown, up or not, before any request reaches them. */
export function recordUpstreams(groups: Iterable<UpstreamGroup>): void {
  for (const group of groups) {
    watched.add(group);
    for (const peer of [...group.peers, ...group.backups]) peerSeries(group.name, peer);
  }
}

/** Each peer's state now; the peers of a `resolve` server as they are now (an address gone keeps its last state). */
metrics.onCollect(() => {
  const now = Date.now();
  for (const group of watched) {
    for (const list of [group.peers, group.backups]) {
      for (const peer of list) {
        up.series(group.name, peer.address.text).value = isDown(peer) || failedRecently(peer, now) ? 0 : 1;
      }
    }
  }
});
