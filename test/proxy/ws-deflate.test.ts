/**
 * permessage-deflate negotiated end to end (a `ws` client and a `ws` echo
 * backend, both with perMessageDeflate) under each WebSocket feature: the
 * extension passes through the handshake, compressed frames (RSV1) pass, and
 * sizes are those on the wire — a large message that compresses well is
 * under wsgate_max_message, the counted bytes are the compressed ones.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { WebSocket } from "ws";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { withTimeout } from "../support/wait.js";
import { closeCodeOf, echo, echoBackend, type EchoBackend, loggedConf, wsProxy } from "./ws-peers.js";

function conf(port: number, backend: number): string {
  const proxy = wsProxy(backend);
  return loggedConf(
    port,
    `location /ping { wsgate_ping 500ms 1s; proxy_read_timeout 1s; ${proxy} }
    location /max { wsgate_max_message 10k; ${proxy} }
    location /rate { wsgate_message_rate 5r/s burst=2; ${proxy} }
    location /counted { ${proxy} }`,
  );
}

function openDeflate(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    }),
    5000,
    "a permessage-deflate WebSocket",
  );
}

describe("permessage-deflate under the WebSocket features", () => {
  let backend: EchoBackend;
  let wsgate: WsgateProcess;
  let base: string;
  const clients: WebSocket[] = [];

  before(async () => {
    backend = await echoBackend({ threshold: 0 });
    const port = await freePort();
    wsgate = await startWsgate({ conf: conf(port, backend.port) });
    base = `ws://127.0.0.1:${port}`;
  });
  after(async () => {
    for (const ws of clients) ws.terminate();
    await wsgate?.stop();
    await backend?.close();
  });

  async function open(path: string): Promise<WebSocket> {
    const ws = await openDeflate(base + path);
    clients.push(ws);
    assert.match(ws.extensions, /permessage-deflate/, "negotiated end to end");
    return ws;
  }

  test("wsgate_ping: an idle compressed tunnel stays open past proxy_read_timeout and echoes", async () => {
    const ws = await open("/ping");
    assert.equal(await echo(ws, "a".repeat(1000)), "a".repeat(1000));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.equal(await echo(ws, "b".repeat(1000)), "b".repeat(1000));
  });

  test("wsgate_max_message counts wire bytes: 100 KB that compress pass a 10k limit; 20 KB of noise get 1009", async () => {
    const ws = await open("/max");
    const compressible = "c".repeat(100_000);
    assert.equal(await echo(ws, compressible), compressible);
    const code = closeCodeOf(ws);
    const received = backend.received.length;
    ws.send(randomBytes(20_000));
    assert.equal(await code, 1009);
    await waitFor(() => backend.closeCodes.includes(1001), 5000, "the backend's 1001");
    assert.equal(backend.received.length, received, "the noise never reached the backend");
  });

  test("wsgate_message_rate: compressed messages within the rate pass, a burst over it gets 1008", async () => {
    const ws = await open("/rate");
    assert.equal(await echo(ws, "one"), "one");
    const code = closeCodeOf(ws);
    for (let i = 0; i < 6; i++) ws.send(`burst ${i}`);
    assert.equal(await code, 1008);
  });

  test("the counted bytes are those on the wire", async () => {
    const ws = await open("/counted");
    const text = "d".repeat(50_000);
    assert.equal(await echo(ws, text), text);
    ws.close(1000);
    await waitFor(() => /^\/counted /m.test(wsgate.accessLog("ws.log")), 5000, "the access-log line");
    const line = /^\/counted 101 m=(\d+)\/(\d+) b=(\d+)\/(\d+) code=1000 by=client rtt=$/m.exec(
      wsgate.accessLog("ws.log"),
    );
    assert.ok(line, wsgate.accessLog("ws.log"));
    assert.deepEqual([line[1], line[2]], ["1", "1"]);
    assert.ok(Number(line[3]) > 0 && Number(line[3]) < 1000, `compressed from the client: ${line[3]} bytes`);
    assert.ok(Number(line[4]) > 0 && Number(line[4]) < 1000, `compressed from the upstream: ${line[4]} bytes`);
  });
});
