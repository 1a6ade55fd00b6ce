/**
 * A real Prometheus scraping wsgate_metrics: Debian's server on loopback
 * scrapes wsgate every second; after a known exchange (N tunnels, M messages
 * each way) its query API gives back exactly those figures, and the open
 * tunnels once some close.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { WsgateProcess } from "../support/proxy.js";
import { until } from "../support/wait.js";
import { prometheusMissing } from "./exposition.js";
import { closed, metricsBackend, REPLY, startMetricsWsgate, talk, type MetricsBackend } from "./exchange.js";
import { startPrometheus, type PrometheusServer } from "./prometheus-server.js";

const N = 2;
const M = 3;
const MESSAGE = "hello";

describe("Prometheus scrapes wsgate_metrics", { skip: prometheusMissing() }, () => {
  let backend: MetricsBackend;
  let wsgate: WsgateProcess;
  let port: number;
  let prometheus: PrometheusServer;

  before(async () => {
    backend = await metricsBackend();
    ({ wsgate, port } = await startMetricsWsgate(backend.port, "master_process off;"));
    prometheus = await startPrometheus("wsgate", [`127.0.0.1:${port}`]);
  });
  after(async () => {
    await prometheus?.stop();
    await wsgate?.stop();
    await backend?.close();
  });

  /** The vector of `expr` once `check` holds for it (Prometheus scrapes every second). */
  async function queryUntil(
    expr: string,
    check: (values: Map<string, number>) => boolean,
    by = "direction",
  ): Promise<Map<string, number>> {
    let last = new Map<string, number>();
    try {
      return await until(
        async () => {
          const result = await prometheus.query(expr);
          last = new Map(result.map((r) => [r.metric[by] ?? "", r.value]));
          return check(last) ? last : undefined;
        },
        20_000,
        `${expr} in Prometheus`,
        250,
      );
    } catch (err) {
      throw new Error(`${String(err)}; last answer ${JSON.stringify([...last])}; ${prometheus.output()}`, {
        cause: err,
      });
    }
  }

  test("the messages, bytes and open tunnels, read back through the query API", async () => {
    await queryUntil('up{job="wsgate"}', (v) => v.get("") === 1, "direction");
    const clients = [];
    for (let i = 0; i < N; i++) clients.push(await talk(port, M, MESSAGE));

    const messages = await queryUntil(
      "wsgate_websocket_messages_total",
      (v) => v.get("from_client") === N * M && v.get("from_upstream") === N * M,
    );
    assert.equal(messages.get("from_client"), N * M);
    const bytes = await queryUntil(
      "wsgate_websocket_bytes_total",
      (v) => v.get("from_upstream") === N * M * REPLY.length,
    );
    assert.equal(bytes.get("from_client"), N * M * MESSAGE.length);
    await queryUntil("wsgate_websocket_connections", (v) => v.get("") === N);

    clients[0]!.close(4000);
    await closed(clients[0]!);
    await queryUntil("wsgate_websocket_connections", (v) => v.get("") === N - 1);
    const closes = await queryUntil("wsgate_websocket_closes_total", (v) => v.get("4000") === 1, "code");
    assert.equal(closes.size, 1, "one close, by the client, with 4000");
    const upstream = await queryUntil(
      "sum by (upstream) (wsgate_upstream_tunnels)",
      (v) => v.get("back") === N - 1,
      "upstream",
    );
    assert.equal(upstream.get("back"), N - 1);
    clients[1]!.terminate();
  });
});
