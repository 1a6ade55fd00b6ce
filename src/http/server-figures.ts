/**
 * The figures of the whole server, as one: stub_status's counters, the
 * metrics of every process (the master and each worker, old generations
 * still serving included) and each upstream peer's state, summed as nginx's
 * shared-memory counters are. A content handler (stub_status,
 * wsgate_upstream_status, wsgate_metrics, wsgate_dashboard) asks here and
 * gets a Promise: in a single process the answer is this process's own
 * figures; in a worker the process layer installs a gatherer that asks the
 * master (src/process/figure-client.ts), which asks every worker and sums
 * their answers with its own and with what exited workers counted before they
 * went (src/process/figure-server.ts).
 */

import { mergeSnapshots, metrics, type MetricsSnapshot } from "../core/metrics.js";
import type { UpstreamGroup } from "../upstream/group.js";
import { upstreamStatus, type UpstreamStatus } from "../upstream/status.js";
import { mergeUpstreamStatus } from "../upstream/status-merge.js";
import type { ConnectionStats } from "./content-handler.js";

/** One process's share. */
export interface ProcessFigures {
  readonly connections: ConnectionStats;
  readonly metrics: MetricsSnapshot;
  /** The process's view of its upstream groups (none in the master). */
  readonly upstreams?: UpstreamStatus;
}

/** A process that serves no connection (the master; a worker not yet serving). */
export const NO_CONNECTIONS: ConnectionStats = {
  active: 0,
  accepted: 0,
  handled: 0,
  requests: 0,
  reading: 0,
  writing: 0,
  waiting: 0,
};

/** How this process reaches every process's figures, `own` first; the default sees only its own. */
export type FigureGatherer = (own: ProcessFigures) => Promise<readonly ProcessFigures[]>;

let gatherer: FigureGatherer = (own) => Promise.resolve([own]);

/** Installed by a worker's process layer: the master gathers. */
export function useFigureGatherer(gather: FigureGatherer): void {
  gatherer = gather;
}

/** This process's figures now (`connections`: its own counters; `upstreams`: its groups, for their view). */
export function ownFigures(
  connections: ConnectionStats,
  upstreams?: ReadonlyMap<string, UpstreamGroup>,
): ProcessFigures {
  const view = upstreams && upstreamStatus(upstreams, Date.now());
  return { connections, metrics: metrics.snapshot(), ...(view ? { upstreams: view } : {}) };
}

let others: ConnectionStats = NO_CONNECTIONS;

/**
 * The other processes' connections as last heard: a worker's process layer sets them about once a
 * second. $connections_active, $connections_reading, … read this process's own, exact, plus these.
 */
export function useOtherConnections(stats: ConnectionStats): void {
  others = stats;
}

/** `own` with the other processes' connections as last heard (`own` alone in a single process). */
export function withOtherProcesses(own: ConnectionStats): ConnectionStats {
  return others === NO_CONNECTIONS ? own : sumConnections([own, others]);
}

/** Every process's figures, summed; `upstreams` merged over the processes, this one's groups giving the list. */
export async function serverFigures(
  connections: ConnectionStats,
  upstreams?: ReadonlyMap<string, UpstreamGroup>,
): Promise<ProcessFigures> {
  return sumFigures(await gatherer(ownFigures(connections, upstreams)));
}

/** Several processes' figures as one (the first's upstream view gives the list of peers). */
export function sumFigures(all: readonly ProcessFigures[]): ProcessFigures {
  const own = all[0]?.upstreams;
  const views = all.slice(1).flatMap((figures) => (figures.upstreams ? [figures.upstreams] : []));
  return {
    connections: sumConnections(all.map((figures) => figures.connections)),
    metrics: mergeSnapshots(all.map((f) => f.metrics)),
    ...(own ? { upstreams: mergeUpstreamStatus(own, views) } : {}),
  };
}

export function sumConnections(all: readonly ConnectionStats[]): ConnectionStats {
  const sum = { active: 0, accepted: 0, handled: 0, requests: 0, reading: 0, writing: 0, waiting: 0 };
  for (const stats of all) {
    for (const key of Object.keys(sum) as Array<keyof typeof sum>) sum[key] += stats[key];
  }
  return sum;
}

/**
 * What of a process's figures outlives it: the counters that only grow (accepts, handled, requests,
 * `counter` and `histogram` series), so the server's totals never go back when a worker exits.
 * Gauges (connections open now, memory) go with the process, and so do series that name it (`pid`).
 */
export function monotonicPart(figures: ProcessFigures): ProcessFigures {
  const { accepted, handled, requests } = figures.connections;
  return {
    connections: { active: 0, accepted, handled, requests, reading: 0, writing: 0, waiting: 0 },
    metrics: figures.metrics.filter(
      (family) => family.spec.type !== "gauge" && !(family.spec.labels ?? []).includes("pid"),
    ),
  };
}
