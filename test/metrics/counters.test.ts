/**
 * The counting functions on their own, read back through the process's
 * registry: a tunnel's end by code and cause ($wsgate_closed_by's words,
 * from the tunnel's end when it did not follow frames), what a closed tunnel
 * carried kept in the totals, requests by status with refused upgrades.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { metrics } from "../../src/core/metrics.js";
import { prometheusText } from "../../src/core/prometheus-text.js";
import { countRequest, countUpgrade } from "../../src/http/http-metrics.js";
import { tunnelClosed, tunnelOpened } from "../../src/proxy/ws-metrics.js";
import type { WsTunnelFacts } from "../../src/vars/source.js";
import { samples } from "./exposition.js";

const now = (): Map<string, number> => samples(prometheusText(metrics.snapshot()));

const facts = (closeCode: number, closedBy: string): WsTunnelFacts => ({
  messagesFromClient: 3,
  messagesFromUpstream: 2,
  bytesFromClient: 30,
  bytesFromUpstream: 20,
  closeCode,
  closedBy,
  pingRttMs: -1,
});

describe("the counters", () => {
  test("tunnels: open gauge, closes by code and cause, durations, handshakes, totals kept", () => {
    for (let i = 0; i < 5; i++) tunnelOpened(2);
    assert.equal(now().get("wsgate_websocket_connections"), 5);
    tunnelClosed("client closed", 1500, facts(1000, "client"));
    tunnelClosed("upstream closed", 10, facts(0, "upstream"));
    tunnelClosed("upstream timed out", 10, undefined);
    tunnelClosed("client timed out", 10, undefined);
    tunnelClosed("upstream error", 10, undefined);
    const all = now();
    assert.equal(all.get("wsgate_websocket_connections"), 0);
    assert.equal(all.get('wsgate_websocket_closes_total{code="1000",by="client"}'), 1);
    assert.equal(all.get('wsgate_websocket_closes_total{code="none",by="upstream"}'), 2);
    assert.equal(all.get('wsgate_websocket_closes_total{code="none",by="wsgate"}'), 2);
    assert.equal(all.get('wsgate_websocket_duration_seconds_bucket{le="0.1"}'), 4);
    assert.equal(all.get('wsgate_websocket_duration_seconds_bucket{le="1"}'), 4);
    assert.equal(all.get('wsgate_websocket_duration_seconds_bucket{le="10"}'), 5);
    assert.equal(all.get("wsgate_websocket_duration_seconds_sum"), 1.54);
    assert.equal(all.get('wsgate_websocket_handshake_seconds_bucket{le="0.0025"}'), 5);
    assert.equal(all.get('wsgate_websocket_handshake_seconds_bucket{le="0.001"}'), 0);
    assert.equal(all.get('wsgate_websocket_messages_total{direction="from_client"}'), 6);
    assert.equal(all.get('wsgate_websocket_bytes_total{direction="from_upstream"}'), 40);
  });

  test("requests by status; a refused upgrade counts as one, a tunnel's end not in the durations", () => {
    const start = Date.now();
    countRequest(200, start, false, false);
    countRequest(200, start, false, false);
    countRequest(403, start, true, false);
    countRequest(200, start, true, false);
    countUpgrade(101);
    countRequest(101, start - 60_000, true, true);
    const all = now();
    assert.equal(all.get('wsgate_http_requests_total{status="200"}'), 3);
    assert.equal(all.get('wsgate_http_requests_total{status="403"}'), 1);
    assert.equal(all.get('wsgate_http_requests_total{status="101"}'), 1);
    assert.equal(all.get("wsgate_http_request_duration_seconds_count"), 4, "the tunnel's minute is not a request's");
    assert.equal(all.get('wsgate_websocket_upgrades_total{status="403"}'), 1);
    assert.equal(all.get('wsgate_websocket_upgrades_total{status="101"}'), 1);
    assert.equal(all.get('wsgate_websocket_upgrades_total{status="200"}'), undefined, "an upgrade answered by a page");
  });
});
