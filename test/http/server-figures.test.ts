/**
 * The server's figures summed over processes (src/http/server-figures.ts),
 * and what of a process's figures outlives it.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { MetricsSnapshot } from "../../src/core/metrics.js";
import { monotonicPart, NO_CONNECTIONS, sumFigures, type ProcessFigures } from "../../src/http/server-figures.js";

const snapshot = (requests: number, open: number, pid: string): MetricsSnapshot => [
  { spec: { name: "t_requests_total", help: "r", type: "counter" }, series: [{ labels: [], value: requests }] },
  { spec: { name: "t_open", help: "o", type: "gauge" }, series: [{ labels: [], value: open }] },
  {
    spec: { name: "t_cpu_seconds_total", help: "c", type: "counter", labels: ["pid"] },
    series: [{ labels: [pid], value: 1 }],
  },
  {
    spec: { name: "t_seconds", help: "h", type: "histogram", buckets: [1] },
    series: [{ labels: [], value: 0, counts: [requests, 0], sum: requests / 2, count: requests }],
  },
];

function figures(active: number, accepted: number, pid: string): ProcessFigures {
  return {
    connections: {
      active,
      accepted,
      handled: accepted,
      requests: accepted + 1,
      reading: 0,
      writing: active,
      waiting: 0,
    },
    metrics: snapshot(accepted, active, pid),
  };
}

describe("the server's figures", () => {
  test("every process's connections and metrics add up", () => {
    const sum = sumFigures([figures(2, 10, "1"), figures(3, 5, "2"), { connections: NO_CONNECTIONS, metrics: [] }]);
    assert.deepEqual(sum.connections, {
      active: 5,
      accepted: 15,
      handled: 15,
      requests: 17,
      reading: 0,
      writing: 5,
      waiting: 0,
    });
    const byName = new Map(sum.metrics.map((family) => [family.spec.name, family.series]));
    assert.equal(byName.get("t_requests_total")![0]!.value, 15);
    assert.equal(byName.get("t_open")![0]!.value, 5);
    assert.equal(byName.get("t_cpu_seconds_total")!.length, 2, "series of each pid stay apart");
    assert.deepEqual(byName.get("t_seconds")![0]!.counts, [15, 0]);
    assert.equal(sum.upstreams, undefined);
  });

  test("an exited process leaves its counters and histograms, not its gauges nor its own series", () => {
    const kept = monotonicPart(figures(4, 7, "9"));
    assert.deepEqual(kept.connections, { ...NO_CONNECTIONS, accepted: 7, handled: 7, requests: 8 });
    assert.deepEqual(
      kept.metrics.map((family) => family.spec.name),
      ["t_requests_total", "t_seconds"],
    );
  });
});
