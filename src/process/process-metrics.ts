/**
 * Every process's own figures in the metrics registry: resident memory, CPU
 * seconds and open descriptors, labelled with the kind of process ("master",
 * "worker", "single") and its pid, so the series of each process stay apart
 * when the workers' figures are summed. They are read when a snapshot is
 * taken (a gathering, a worker's push once a second), not on a timer.
 */

import { readdirSync } from "node:fs";
import { metrics } from "../core/metrics.js";

export type ProcessKind = "master" | "worker" | "single";

const LABELS = ["process", "pid"] as const;
let counted = false;

/** Register the process's collectors (once per process). */
export function countProcessFigures(kind: ProcessKind): void {
  if (counted) return;
  counted = true;
  const labels = [kind, String(process.pid)];
  const rss = metrics
    .family({
      name: "wsgate_process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      type: "gauge",
      labels: LABELS,
    })
    .series(...labels);
  const cpu = metrics
    .family({
      name: "wsgate_process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      type: "counter",
      labels: LABELS,
    })
    .series(...labels);
  const fds =
    openDescriptors() === undefined
      ? undefined
      : metrics
          .family({
            name: "wsgate_process_open_fds",
            help: "Number of open file descriptors.",
            type: "gauge",
            labels: LABELS,
          })
          .series(...labels);
  metrics.onCollect(() => {
    // libuv reads the RSS from /proc/self/stat: out of descriptors it throws EMFILE; the last figure stays.
    rss.value = residentBytes() ?? rss.value;
    const usage = process.cpuUsage();
    cpu.value = (usage.user + usage.system) / 1e6;
    if (fds) fds.value = openDescriptors() ?? fds.value;
  });
}

function residentBytes(): number | undefined {
  try {
    return process.memoryUsage.rss();
  } catch {
    return undefined;
  }
}

/** The entries of /proc/self/fd, less the one reading it opens; undefined where there is no /proc. */
function openDescriptors(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}
