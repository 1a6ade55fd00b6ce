/**
 * wsgate_metrics with an RFC 8441 tunnel (extended CONNECT on an HTTP/2
 * stream): the handshake is counted by the status the client got (200), the
 * tunnel's messages each way as on an HTTP/1.1 upgrade, and its close.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { freePort, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { destroySessions, h2Session, h2WebSocket } from "../support/h2-client.js";
import { until } from "../support/wait.js";
import { samples } from "./exposition.js";
import { get, metricsBackend, metricsConf, REPLY, type MetricsBackend } from "./exchange.js";

describe("wsgate_metrics: an RFC 8441 tunnel", () => {
  let backend: MetricsBackend;
  let wsgate: WsgateProcess;
  let port: number;

  before(async () => {
    backend = await metricsBackend();
    port = await freePort();
    const conf = metricsConf(port, backend.port, "master_process off;").replace(
      "    location / {",
      "    http2 on;\n    wsgate_http2_websocket on;\n    location / {",
    );
    wsgate = await startWsgate({ conf });
  });
  after(async () => {
    destroySessions();
    await wsgate?.stop();
    await backend?.close();
  });

  async function metric(key: string, value: number): Promise<Map<string, number>> {
    return until(
      async () => {
        const all = samples((await get(port, "/metrics")).body);
        return all.get(key) === value ? all : undefined;
      },
      5000,
      `${key} = ${value}`,
      50,
    );
  }

  test("the 200 handshake, the messages each way and the close", async () => {
    const session = await h2Session(`http://127.0.0.1:${port}`);
    const ws = await h2WebSocket(session, "/chat");
    assert.equal(ws.status, 200);
    ws.send("hello");
    ws.send("again");
    for (let i = 0; i < 2; i++) assert.equal((await ws.frames.next(5000)).payload.toString(), REPLY);

    const open = await metric("wsgate_websocket_connections", 1);
    assert.equal(open.get('wsgate_websocket_upgrades_total{status="200"}'), 1);
    assert.equal(open.get('wsgate_websocket_upgrades_total{status="101"}'), undefined);
    assert.equal(open.get('wsgate_websocket_messages_total{direction="from_client"}'), 2);
    assert.equal(open.get('wsgate_websocket_messages_total{direction="from_upstream"}'), 2);
    assert.equal(open.get('wsgate_websocket_bytes_total{direction="from_client"}'), 10);

    ws.send(Buffer.from([0x0f, 0xa0]), 8);
    const closed = await metric("wsgate_websocket_connections", 0);
    assert.equal(closed.get('wsgate_websocket_closes_total{code="4000",by="client"}'), 1);
    assert.equal(closed.get("wsgate_websocket_duration_seconds_count"), 1);
  });
});
