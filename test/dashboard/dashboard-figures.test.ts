/**
 * What the dashboard's feed sends (src/static/dashboard-figures.ts): the
 * server's figures reduced to numbers. The WebSocket and upstream families
 * are made here, in a registry of the test's own, with the names and labels
 * the proxy counts them under; a snapshot without them reads as zeros. And
 * how the feed treats a reader that falls behind (src/static/dashboard-feed.ts).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mergeSnapshots, MetricsRegistry } from "../../src/core/metrics.js";
import { dashboardSnapshot, quantile } from "../../src/static/dashboard-figures.js";
import { BACKLOG_LIMIT, backlogVerdict } from "../../src/static/dashboard-feed.js";

const CONNECTIONS = { active: 7, accepted: 20, handled: 19, requests: 33, reading: 1, writing: 4, waiting: 2 };
const BUCKETS = [0.001, 0.01, 0.1, 1];

/** The proxy's families in `registry`, with a known exchange counted in them. */
function countExchange(registry: MetricsRegistry, scale: number): void {
  const family = (name: string, type: "counter" | "gauge", labels: string[] = []) =>
    registry.family({ name, help: name, type, labels });
  family("wsgate_websocket_connections", "gauge").series().value = 3 * scale;
  family("wsgate_websocket_upgrades_total", "counter", ["status"]).series("101").value = 5 * scale;
  family("wsgate_websocket_upgrades_total", "counter", ["status"]).series("502").value = 1 * scale;
  const closes = family("wsgate_websocket_closes_total", "counter", ["code", "by"]);
  closes.series("1000", "client").value = 2 * scale;
  closes.series("1001", "upstream").value = 1 * scale;
  const messages = family("wsgate_websocket_messages_total", "counter", ["direction"]);
  messages.series("from_client").value = 40 * scale;
  messages.series("from_upstream").value = 41 * scale;
  const bytes = family("wsgate_websocket_bytes_total", "counter", ["direction"]);
  bytes.series("from_client").value = 4000 * scale;
  bytes.series("from_upstream").value = 4100 * scale;
  const http = family("wsgate_http_requests_total", "counter", ["status"]);
  http.series("200").value = 10 * scale;
  http.series("404").value = 2 * scale;
  const handshake = registry.family({
    name: "wsgate_websocket_handshake_seconds",
    help: "h",
    type: "histogram",
    buckets: BUCKETS,
  });
  for (let i = 0; i < scale; i++) {
    handshake.series().observe(0.005);
    handshake.series().observe(0.05);
  }
  const peer = ["upstream", "peer"];
  family("wsgate_upstream_requests_total", "counter", peer).series("backend", "127.0.0.1:8081").value = 6 * scale;
  family("wsgate_upstream_failures_total", "counter", peer).series("backend", "127.0.0.1:8082").value = 2 * scale;
  family("wsgate_upstream_tunnels", "gauge", peer).series("backend", "127.0.0.1:8081").value = 3 * scale;
  family("wsgate_upstream_up", "gauge", peer).series("backend", "127.0.0.1:8081").value = 1;
  family("wsgate_upstream_up", "gauge", peer).series("backend", "127.0.0.1:8082").value = 0;
}

describe("the dashboard's snapshot", () => {
  test("reads every family the page draws", () => {
    const registry = new MetricsRegistry();
    countExchange(registry, 1);
    const snapshot = dashboardSnapshot({ connections: CONNECTIONS, metrics: registry.snapshot() }, 1234);
    assert.equal(snapshot.time, 1234);
    assert.deepEqual(snapshot.connections, CONNECTIONS);
    assert.equal(snapshot.tunnels, 3);
    assert.deepEqual(snapshot.upgrades, { "101": 5, "502": 1 });
    assert.equal(snapshot.upgradesTotal, 6);
    assert.deepEqual(snapshot.closes, { "1000 client": 2, "1001 upstream": 1 });
    assert.deepEqual(snapshot.messages, { fromClient: 40, fromUpstream: 41 });
    assert.deepEqual(snapshot.bytes, { fromClient: 4000, fromUpstream: 4100 });
    assert.deepEqual(snapshot.http, { "200": 10, "404": 2 });
    assert.equal(snapshot.httpTotal, 12);
    assert.equal(snapshot.handshake.count, 2);
    assert.ok(Math.abs(snapshot.handshake.sum - 0.055) < 1e-9);
    // Half the observations are in (0.001, 0.01]: the median is that bucket's upper bound.
    assert.ok(Math.abs(snapshot.handshake.p50 - 0.01) < 1e-9, String(snapshot.handshake.p50));
    assert.ok(snapshot.handshake.p99 > 0.01 && snapshot.handshake.p99 <= 0.1, String(snapshot.handshake.p99));
    assert.deepEqual(snapshot.duration, { count: 0, sum: 0, p50: -1, p99: -1 });
    assert.deepEqual(snapshot.peers, [
      { upstream: "backend", peer: "127.0.0.1:8081", requests: 6, failures: 0, tunnels: 3, up: 1 },
      { upstream: "backend", peer: "127.0.0.1:8082", requests: 0, failures: 2, tunnels: 0, up: 0 },
    ]);
  });

  test("sums the figures of several processes", () => {
    const one = new MetricsRegistry();
    const two = new MetricsRegistry();
    countExchange(one, 1);
    countExchange(two, 2);
    const merged = mergeSnapshots([one.snapshot(), two.snapshot()]);
    const snapshot = dashboardSnapshot({ connections: CONNECTIONS, metrics: merged }, 0);
    assert.equal(snapshot.tunnels, 9);
    assert.deepEqual(snapshot.messages, { fromClient: 120, fromUpstream: 123 });
    assert.equal(snapshot.handshake.count, 6);
    // Both processes see 8081 up and 8082 down: the group's view, not a sum.
    assert.deepEqual(
      snapshot.peers.map((peer) => [peer.peer, peer.up, peer.tunnels]),
      [
        ["127.0.0.1:8081", 1, 9],
        ["127.0.0.1:8082", 0, 0],
      ],
    );
  });

  test("reads zeros where no family is counted yet", () => {
    const snapshot = dashboardSnapshot({ connections: CONNECTIONS, metrics: new MetricsRegistry().snapshot() }, 5);
    assert.equal(snapshot.tunnels, 0);
    assert.deepEqual(snapshot.upgrades, {});
    assert.equal(snapshot.upgradesTotal, 0);
    assert.deepEqual(snapshot.messages, { fromClient: 0, fromUpstream: 0 });
    assert.deepEqual(snapshot.bytes, { fromClient: 0, fromUpstream: 0 });
    assert.deepEqual(snapshot.handshake, { count: 0, sum: 0, p50: -1, p99: -1 });
    assert.equal(snapshot.httpTotal, 0);
    assert.deepEqual(snapshot.peers, []);
    assert.deepEqual(snapshot.connections, CONNECTIONS);
  });
});

describe("quantiles from a histogram's buckets (Prometheus' histogram_quantile)", () => {
  test("interpolate within the bucket the rank falls in", () => {
    // 10 observations in (0, 1], 10 in (1, 2]: the median is 1, the 75th percentile halfway into (1, 2].
    assert.equal(quantile(0.5, [1, 2], [10, 10, 0]), 1);
    assert.equal(quantile(0.75, [1, 2], [10, 10, 0]), 1.5);
    assert.equal(quantile(0.25, [1, 2], [10, 10, 0]), 0.5);
  });

  test("a rank in +Inf reads the highest bound; nothing observed reads -1", () => {
    assert.equal(quantile(0.99, [1, 2], [0, 1, 9]), 2);
    assert.equal(quantile(0.5, [1, 2], [0, 0, 0]), -1);
  });
});

describe("a slow reader of the feed", () => {
  test("events are skipped while the backlog is over the limit, the reader given up after send_timeout", () => {
    assert.equal(backlogVerdict(0, 0, 1000, 60_000), "write");
    assert.equal(backlogVerdict(BACKLOG_LIMIT, 0, 1000, 60_000), "write");
    // Behind: skipped, the first time and until send_timeout has passed since.
    assert.equal(backlogVerdict(BACKLOG_LIMIT + 1, 0, 1000, 60_000), "skip");
    assert.equal(backlogVerdict(BACKLOG_LIMIT + 1, 1000, 60_999, 60_000), "skip");
    assert.equal(backlogVerdict(BACKLOG_LIMIT + 1, 1000, 61_000, 60_000), "timeout");
    // Caught up: written again, whatever came before.
    assert.equal(backlogVerdict(10, 1000, 61_000, 60_000), "write");
  });
});
