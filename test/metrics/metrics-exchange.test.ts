/**
 * wsgate_metrics after a known exchange, with `master_process off` and with
 * one worker: N tunnels with M messages each way, HTTP requests, a refused
 * upgrade, tunnels closed by the client (4000), by the upstream (4001) and
 * by a TCP cut; /metrics shows exactly those numbers, the open-tunnel gauges
 * follow the closes, and promtool accepts the real output.
 *
 * With two workers the same numbers hold: every worker's figures are summed
 * through the master (server-figures.ts's gatherer); a gauge of the state
 * each worker sees (wsgate_upstream_up) is the group's: 1 only where every
 * worker sees the peer up.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { freePorts, type WsgateProcess } from "../support/proxy.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { delay, until } from "../support/wait.js";
import { prometheusMissing, promtoolCheck, samples } from "./exposition.js";
import { closed, get, metricsBackend, REPLY, startMetricsWsgate, talk, type MetricsBackend } from "./exchange.js";

const N = 3;
const M = 4;
const MESSAGE = "hello";

for (const [name, main] of [
  ["a single process", "master_process off;"],
  ["one worker", "worker_processes 1;"],
  ["two workers", "worker_processes 2;"],
] as const) {
  describe(`wsgate_metrics: a known exchange (${name})`, () => {
    let backend: MetricsBackend;
    let wsgate: WsgateProcess;
    let port: number;
    /** Scrapes answered so far: each is a 200 of its own once logged. */
    let scrapes = 0;
    /** Two ports nothing listens on: the upstream `dead`. */
    let dead: number[];

    before(async () => {
      backend = await metricsBackend();
      dead = await freePorts(2);
      ({ wsgate, port } = await startMetricsWsgate(backend.port, main, dead));
    });
    after(async () => {
      await wsgate?.stop();
      await backend?.close();
    });

    async function scrape(): Promise<{ text: string; all: Map<string, number> }> {
      const res = await get(port, "/metrics");
      scrapes++;
      assert.equal(res.status, 200);
      return { text: res.body, all: samples(res.body) };
    }

    /** Scrapes until `key` has `value` (a tunnel's close reaches wsgate after the client sees it). */
    async function scrapeUntil(key: string, value: number): Promise<Map<string, number>> {
      return until(
        async () => {
          const { all } = await scrape();
          return all.get(key) === value ? all : undefined;
        },
        5000,
        `${key} = ${value}`,
        50,
      );
    }

    test("tunnels, messages, bytes, handshakes, HTTP requests and the upstream peer, exactly", async () => {
      const peer = `upstream="back",peer="127.0.0.1:${backend.port}"`;
      const first = await get(port, "/metrics");
      scrapes++;
      assert.equal(first.type, "text/plain; version=0.0.4; charset=utf-8");
      assert.equal(samples(first.body).get(`wsgate_upstream_up{${peer}}`), 1);

      assert.equal((await get(port, "/plain")).status, 200);
      assert.equal((await get(port, "/plain")).status, 200);
      const refused = await exchange(
        port,
        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        hasWholeResponse,
      );
      assert.match(refused.toString("latin1"), /^HTTP\/1\.1 404 /);

      const clients = [];
      for (let i = 0; i < N; i++) clients.push(await talk(port, M, MESSAGE));
      const all = (await scrape()).all;
      assert.equal(all.get("wsgate_websocket_connections"), N);
      assert.equal(all.get('wsgate_websocket_messages_total{direction="from_client"}'), N * M);
      assert.equal(all.get('wsgate_websocket_messages_total{direction="from_upstream"}'), N * M);
      assert.equal(all.get('wsgate_websocket_bytes_total{direction="from_client"}'), N * M * MESSAGE.length);
      assert.equal(all.get('wsgate_websocket_bytes_total{direction="from_upstream"}'), N * M * REPLY.length);
      assert.equal(all.get('wsgate_websocket_upgrades_total{status="101"}'), N);
      assert.equal(all.get('wsgate_websocket_upgrades_total{status="404"}'), 1);
      assert.equal(all.get("wsgate_websocket_handshake_seconds_count"), N);
      assert.equal(all.get('wsgate_websocket_handshake_seconds_bucket{le="+Inf"}'), N);
      assert.equal(all.get(`wsgate_upstream_tunnels{${peer}}`), N);
      assert.equal(all.get(`wsgate_upstream_requests_total{${peer}}`), N);
      assert.equal(all.get(`wsgate_upstream_failures_total{${peer}}`), 0);
      assert.equal(all.get(`wsgate_upstream_response_seconds_count{${peer}}`), N);
      assert.equal(all.get('wsgate_http_requests_total{status="404"}'), 1);
      assert.equal(all.get('wsgate_http_requests_total{status="101"}'), undefined, "a tunnel counts at its end");

      // The client closes the first (4000), the upstream the second (4001), the third is cut (no close frame).
      clients[0]!.close(4000);
      await closed(clients[0]!);
      await scrapeUntil("wsgate_websocket_connections", N - 1);
      backend.peers[1]!.close(4001);
      await closed(clients[1]!);
      const two = await scrapeUntil("wsgate_websocket_connections", N - 2);
      assert.equal(two.get(`wsgate_upstream_tunnels{${peer}}`), N - 2);
      assert.equal(two.get('wsgate_websocket_closes_total{code="4000",by="client"}'), 1);
      assert.equal(two.get('wsgate_websocket_closes_total{code="4001",by="upstream"}'), 1);
      clients[2]!.terminate();
      const none = await scrapeUntil("wsgate_websocket_connections", 0);
      assert.equal(none.get('wsgate_websocket_closes_total{code="none",by="client"}'), 1);
      assert.equal(none.get(`wsgate_upstream_tunnels{${peer}}`), 0);
      assert.equal(none.get("wsgate_websocket_duration_seconds_count"), N);
      // Closed tunnels keep what they carried (the close frames are control frames, not messages).
      assert.equal(none.get('wsgate_websocket_messages_total{direction="from_client"}'), N * M);
      assert.equal(none.get('wsgate_websocket_messages_total{direction="from_upstream"}'), N * M);
      assert.equal(none.get('wsgate_websocket_bytes_total{direction="from_upstream"}'), N * M * REPLY.length);

      // Every scrape so far is logged by now: each is a 200 of its own.
      await delay(100);
      const before = scrapes;
      const last = (await scrape()).all;
      assert.equal(last.get('wsgate_http_requests_total{status="200"}'), 2 + before);
      assert.equal(last.get('wsgate_http_requests_total{status="101"}'), N);
      assert.equal(last.get('wsgate_http_requests_total{status="404"}'), 1);
      assert.equal(last.get("wsgate_http_request_duration_seconds_count"), 2 + before + 1);
    });

    test("an upstream whose peers refuse: each try fails, each peer is seen down (max_fails=1)", async () => {
      assert.equal((await get(port, "/dead")).status, 502);
      const all = (await scrape()).all;
      for (const p of dead) {
        const labels = `upstream="dead",peer="127.0.0.1:${p}"`;
        assert.equal(all.get(`wsgate_upstream_requests_total{${labels}}`), 1, labels);
        assert.equal(all.get(`wsgate_upstream_failures_total{${labels}}`), 1, labels);
        // The worker that tried them sees them down: for the group they are not up.
        assert.equal(all.get(`wsgate_upstream_up{${labels}}`), 0, labels);
        assert.equal(all.get(`wsgate_upstream_response_seconds_count{${labels}}`), 0, "no response head");
      }
      assert.equal(all.get('wsgate_http_requests_total{status="502"}'), 1);
    });

    test("promtool check metrics accepts the real output", { skip: prometheusMissing() }, async () => {
      const { text } = await scrape();
      const verdict = await promtoolCheck(text);
      assert.equal(verdict.code, 0, `${verdict.output}\n${text}`);
      assert.equal(verdict.output.trim(), "", "no lint remarks");
    });

    test("HEAD answers the head, other methods 405", async () => {
      const head = await get(port, "/metrics", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.body, "");
      assert.equal((await get(port, "/metrics", { method: "POST", body: "x" })).status, 405);
    });
  });
}
