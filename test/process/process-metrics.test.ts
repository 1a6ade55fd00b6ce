/**
 * Every process counts its resident memory, CPU seconds and open descriptors
 * in the metrics registry, labelled with its kind and pid, read when a
 * snapshot is taken (src/process/process-metrics.ts).
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { openSync, closeSync } from "node:fs";
import { metrics } from "../../src/core/metrics.js";
import { countProcessFigures } from "../../src/process/process-metrics.js";

function read(name: string): { labels: readonly string[]; value: number; type: string } {
  const family = metrics.snapshot().find((f) => f.spec.name === name);
  assert.ok(family, `${name} in the snapshot`);
  assert.equal(family.series.length, 1);
  return { labels: family.series[0]!.labels, value: family.series[0]!.value, type: family.spec.type };
}

test("memory, CPU and descriptors of this process, labelled process and pid", () => {
  countProcessFigures("single");
  countProcessFigures("worker"); // once per process: the first kind stays
  const labels = ["single", String(process.pid)];
  const rss = read("wsgate_process_resident_memory_bytes");
  assert.deepEqual([rss.labels, rss.type], [labels, "gauge"]);
  assert.ok(rss.value > 10 * 1024 * 1024, `resident memory ${rss.value}`);
  const cpu = read("wsgate_process_cpu_seconds_total");
  assert.deepEqual([cpu.labels, cpu.type], [labels, "counter"]);
  assert.ok(cpu.value > 0 && cpu.value < process.uptime() * 4, `cpu ${cpu.value}`);
  const before = read("wsgate_process_open_fds");
  assert.deepEqual([before.labels, before.type], [labels, "gauge"]);
  const fds = [openSync("/dev/null", "r"), openSync("/dev/null", "r")];
  try {
    assert.equal(read("wsgate_process_open_fds").value, before.value + 2);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});
