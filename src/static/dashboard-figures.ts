/**
 * What the dashboard's page is sent each second: the server's figures
 * (server-figures.ts, every process summed) reduced to the numbers the page
 * draws. Counters stay counters (totals since start): the page computes its
 * rates from the differences between two snapshots, so a missed second costs
 * nothing. A family no module has made yet (a process that counts no
 * WebSocket traffic) reads as zeros.
 */

import type { FamilySnapshot } from "../core/metrics.js";
import type { ProcessFigures } from "../http/server-figures.js";
import type { ConnectionStats } from "./services.js";

/** Both directions of a tunnel, as `direction` labels them. */
export interface Directions {
  readonly fromClient: number;
  readonly fromUpstream: number;
}

/** A histogram read back: observations, their sum, and quantiles estimated from the buckets. */
export interface HistogramFigures {
  readonly count: number;
  readonly sum: number;
  /** Seconds; -1 while nothing is observed. */
  readonly p50: number;
  readonly p99: number;
}

export interface PeerFigures {
  readonly upstream: string;
  readonly peer: string;
  readonly requests: number;
  readonly failures: number;
  readonly tunnels: number;
  /** 1 up, 0 down, -1 unknown (no state reported). */
  readonly up: number;
}

export interface DashboardSnapshot {
  /** When the snapshot was taken (ms since the epoch). */
  readonly time: number;
  readonly connections: ConnectionStats;
  /** Tunnels open now. */
  readonly tunnels: number;
  /** Handshakes by the status the client got, and their total. */
  readonly upgrades: Readonly<Record<string, number>>;
  readonly upgradesTotal: number;
  /** Tunnel closes by code and by whom ("1000 client"). */
  readonly closes: Readonly<Record<string, number>>;
  readonly messages: Directions;
  readonly bytes: Directions;
  readonly handshake: HistogramFigures;
  readonly duration: HistogramFigures;
  /** HTTP requests by status, and their total. */
  readonly http: Readonly<Record<string, number>>;
  readonly httpTotal: number;
  readonly peers: readonly PeerFigures[];
}

type SeriesSnapshot = FamilySnapshot["series"][number];

export function dashboardSnapshot(figures: ProcessFigures, time: number): DashboardSnapshot {
  const families = new Map(figures.metrics.map((family) => [family.spec.name, family]));
  const upgrades = byLabels(families.get("wsgate_websocket_upgrades_total"), ["status"]);
  const http = byLabels(families.get("wsgate_http_requests_total"), ["status"]);
  return {
    time,
    connections: figures.connections,
    tunnels: total(families.get("wsgate_websocket_connections")),
    upgrades,
    upgradesTotal: sumOf(upgrades),
    closes: byLabels(families.get("wsgate_websocket_closes_total"), ["code", "by"]),
    messages: directions(families.get("wsgate_websocket_messages_total")),
    bytes: directions(families.get("wsgate_websocket_bytes_total")),
    handshake: histogram(families.get("wsgate_websocket_handshake_seconds")),
    duration: histogram(families.get("wsgate_websocket_duration_seconds")),
    http,
    httpTotal: sumOf(http),
    peers: peers(families),
  };
}

/** The series of `family` summed by the values of `labels` (joined by a space); other labels are summed over. */
function byLabels(family: FamilySnapshot | undefined, labels: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  if (family === undefined) return out;
  const at = labels.map((label) => family.spec.labels?.indexOf(label) ?? -1);
  for (const series of family.series) {
    const key = at.map((i) => (i < 0 ? "" : (series.labels[i] ?? ""))).join(" ");
    out[key] = (out[key] ?? 0) + series.value;
  }
  return out;
}

function total(family: FamilySnapshot | undefined): number {
  let sum = 0;
  for (const series of family?.series ?? []) sum += series.value;
  return sum;
}

function sumOf(record: Readonly<Record<string, number>>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

function directions(family: FamilySnapshot | undefined): Directions {
  const by = byLabels(family, ["direction"]);
  return { fromClient: by["from_client"] ?? 0, fromUpstream: by["from_upstream"] ?? 0 };
}

/** Every series of a histogram family summed into one, with its quantiles. */
export function histogram(family: FamilySnapshot | undefined): HistogramFigures {
  const bounds = family?.spec.buckets ?? [];
  const counts = new Array<number>(bounds.length + 1).fill(0);
  let count = 0;
  let sum = 0;
  for (const series of family?.series ?? []) {
    series.counts?.forEach((n, i) => (counts[i] = (counts[i] ?? 0) + n));
    count += series.count ?? 0;
    sum += series.sum ?? 0;
  }
  return { count, sum, p50: quantile(0.5, bounds, counts), p99: quantile(0.99, bounds, counts) };
}

/**
 * Prometheus' histogram_quantile(): the bucket the rank falls in, linearly
 * interpolated within it; the first bucket starts at 0; a rank in the +Inf
 * bucket is the highest finite bound. `counts` are per bucket (not cumulative).
 */
export function quantile(q: number, bounds: readonly number[], counts: readonly number[]): number {
  const observed = counts.reduce((a, b) => a + b, 0);
  if (observed === 0) return -1;
  const rank = q * observed;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= bounds.length) return bounds.at(-1) ?? 0;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds.at(-1) ?? 0;
}

const PEER_FAMILIES = {
  requests: "wsgate_upstream_requests_total",
  failures: "wsgate_upstream_failures_total",
  tunnels: "wsgate_upstream_tunnels",
  up: "wsgate_upstream_up",
} as const;

/** Each (upstream, peer) any of the peer families knows, with its four figures. */
function peers(families: ReadonlyMap<string, FamilySnapshot>): PeerFigures[] {
  const byPeer = new Map<
    string,
    { upstream: string; peer: string; requests: number; failures: number; tunnels: number; up: number }
  >();
  for (const [field, name] of Object.entries(PEER_FAMILIES) as Array<[keyof typeof PEER_FAMILIES, string]>) {
    const family = families.get(name);
    if (family === undefined) continue;
    const upstreamAt = family.spec.labels?.indexOf("upstream") ?? -1;
    const peerAt = family.spec.labels?.indexOf("peer") ?? -1;
    for (const series of family.series) {
      const upstream = labelAt(series, upstreamAt);
      const peer = labelAt(series, peerAt);
      const key = `${upstream}\u0000${peer}`;
      let entry = byPeer.get(key);
      if (entry === undefined) {
        entry = { upstream, peer, requests: 0, failures: 0, tunnels: 0, up: -1 };
        byPeer.set(key, entry);
      }
      // Every process reports the group's view of `up`: summed over processes it is > 0 when any sees it up.
      if (field === "up") entry.up = Math.max(entry.up, 0) + series.value > 0 ? 1 : 0;
      else entry[field] += series.value;
    }
  }
  return [...byPeer.values()].sort((a, b) => a.upstream.localeCompare(b.upstream) || a.peer.localeCompare(b.peer));
}

function labelAt(series: SeriesSnapshot, at: number): string {
  return at < 0 ? "" : (series.labels[at] ?? "");
}
