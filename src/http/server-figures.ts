/**
 * The figures of the whole server, as one: stub_status's counters and the
 * metrics of every process (the master and each worker, old generations
 * still serving included), summed as nginx's shared-memory counters are. A
 * content handler (stub_status, wsgate_metrics, wsgate_dashboard) asks here
 * and gets a Promise: in a single process the answer is this process's own
 * figures; in a worker the process layer installs a gatherer that asks the
 * master, which asks every worker and sums their answers with its own (and
 * with what exited workers counted before they went).
 */

import { mergeSnapshots, metrics, type MetricsSnapshot } from "../core/metrics.js";
import type { ConnectionStats } from "./content-handler.js";

/** One process's share. */
export interface ProcessFigures {
  readonly connections: ConnectionStats;
  readonly metrics: MetricsSnapshot;
}

/** How this process reaches every process's figures; the default sees only its own. */
export type FigureGatherer = (own: ProcessFigures) => Promise<readonly ProcessFigures[]>;

let gatherer: FigureGatherer = (own) => Promise.resolve([own]);

/** Installed by a worker's process layer: the master gathers. */
export function useFigureGatherer(gather: FigureGatherer): void {
  gatherer = gather;
}

/** This process's figures now (`connections`: its own counters). */
export function ownFigures(connections: ConnectionStats): ProcessFigures {
  return { connections, metrics: metrics.snapshot() };
}

/** Every process's figures, summed. */
export async function serverFigures(connections: ConnectionStats): Promise<ProcessFigures> {
  const all = await gatherer(ownFigures(connections));
  return {
    connections: sumConnections(all.map((figures) => figures.connections)),
    metrics: mergeSnapshots(all.map((f) => f.metrics)),
  };
}

export function sumConnections(all: readonly ConnectionStats[]): ConnectionStats {
  const sum = { active: 0, accepted: 0, handled: 0, requests: 0, reading: 0, writing: 0, waiting: 0 };
  for (const stats of all) {
    for (const key of Object.keys(sum) as Array<keyof typeof sum>) sum[key] += stats[key];
  }
  return sum;
}
