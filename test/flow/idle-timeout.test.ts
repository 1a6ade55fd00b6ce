/**
 * proxy_read_timeout on a tunnel: an idle tunnel is closed after the limit
 * (up to one sweep late) with nginx's error-log line; a tunnel with traffic in
 * either direction stays open.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { WebSocket, WebSocketServer } from "ws";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { eventWithin, until } from "../support/wait.js";

describe("idle tunnels and proxy_read_timeout", () => {
  let backend: WebSocketServer;
  let wsgate: WsgateProcess;
  let url: string;

  before(async () => {
    backend = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await eventWithin(backend, "listening", 2000);
    backend.on("connection", (socket) => socket.on("message", (data) => socket.send(data)));
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    const port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(`server {
      listen 127.0.0.1:${port};
      location / {
        proxy_pass http://127.0.0.1:${address.port};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection upgrade;
        proxy_read_timeout 1s;
      }
    }`),
    });
    url = `ws://127.0.0.1:${port}/`;
  });

  after(async () => {
    await wsgate?.stop();
    await new Promise((resolve) => backend?.close(resolve));
  });

  test("an idle tunnel is closed after proxy_read_timeout, and the error log says so", async () => {
    const client = new WebSocket(url);
    await eventWithin(client, "open", 3000);
    const opened = Date.now();
    await eventWithin(client, "close", 4000);
    const lasted = Date.now() - opened;
    // The client sees "open" a moment after wsgate started the tunnel (more on a loaded machine).
    assert.ok(lasted >= 700, `closed after ${lasted} ms, well before the limit`);
    // The line is written once both sockets have closed, which may be just after the client saw its close
    // (the log already holds the start's notices, so wait for this line itself).
    const timedOut =
      /\[info\] \d+#\d+: \*\d+ upstream timed out \(110: Connection timed out\) while proxying upgraded connection, client: 127\.0\.0\.1/;
    await until(() => timedOut.test(wsgate.errorLog()), 3000, "the timeout's error-log line");
  });

  test("traffic from the client keeps the tunnel open past the limit", async () => {
    const client = new WebSocket(url);
    await eventWithin(client, "open", 3000);
    let closed = false;
    client.once("close", () => (closed = true));
    for (let i = 0; i < 10; i++) {
      client.send(`tick ${i}`);
      await eventWithin(client, "message", 2000);
      // A sleep on purpose: the traffic is spread over more time than the limit.
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(closed, false, "the tunnel stayed open for 2.5 s of traffic with a 1 s limit");
    client.close();
  });
});
