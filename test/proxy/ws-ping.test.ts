/**
 * wsgate_ping with real peers: a quiet side is pinged (unmasked to the
 * client, masked to the upstream), a side that answers nothing is cut and
 * the other gets 1001 with an info line; a `ws` client idle past
 * proxy_read_timeout stays open; wsgate's pongs stay with wsgate while a
 * peer's own pings and pongs pass; a ping waits for the frame in flight.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { WebSocket } from "ws";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { openWs } from "../support/sockets.js";
import { withTimeout } from "../support/wait.js";
import {
  closeCodeOf,
  echo,
  echoBackend,
  featureConf,
  rawBackend,
  rawClient,
  serverFrame,
  type EchoBackend,
  type RawBackend,
} from "./ws-peers.js";

describe("wsgate_ping", () => {
  const stops: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  async function start(features: string, backend: EchoBackend | RawBackend): Promise<WsgateProcess> {
    const port = await freePort();
    const wsgate = await startWsgate({ conf: featureConf(port, backend.port, features) });
    stops.push(() => wsgate.stop());
    return Object.assign(wsgate, { port });
  }
  const portOf = (wsgate: WsgateProcess): number => (wsgate as WsgateProcess & { port: number }).port;

  test("a client that never answers is cut within INTERVAL + TIMEOUT; its upstream gets 1001; the info line names it", async () => {
    const backend = await echoBackend();
    stops.push(() => backend.close());
    const wsgate = await start("wsgate_ping 1s 1s;", backend);
    const client = await rawClient(portOf(wsgate));
    const startedAt = Date.now();
    const ping = await client.got.next(9, 4000);
    assert.equal(ping.masked, false, "a ping to the client is unmasked");
    await withTimeout(client.closed, 6000, "the client's socket closed");
    const took = Date.now() - startedAt;
    assert.ok(took >= 2000 && took <= 5000, `cut after ${took} ms (interval 1s + timeout 1s, 1s sweeps)`);
    await waitFor(() => backend.closeCodes.length > 0, 5000, "the backend's close");
    assert.deepEqual(backend.closeCodes, [1001]);
    assert.equal(client.got.closeCode(), undefined, "the dead client gets no close frame");
    await waitFor(() => /did not answer ping/.test(wsgate.errorLog()), 5000, "the error-log line");
    assert.match(
      wsgate.errorLog(),
      /\[info\] \d+#\d+: \*\d+ client did not answer ping within 1s while proxying upgraded connection, client: 127\.0\.0\.1, server: , request: "GET \/ HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/", host: "test"\n/,
    );
  });

  test("a `ws` client idle for several intervals, past proxy_read_timeout, stays open and still echoes; wsgate's pongs stay with wsgate", async () => {
    const backend = await echoBackend();
    stops.push(() => backend.close());
    const wsgate = await start("wsgate_ping 500ms 1s; proxy_read_timeout 1s;", backend);
    const ws = await openWs(`ws://127.0.0.1:${portOf(wsgate)}/`);
    stops.push(async () => ws.terminate());
    const clientPings: string[] = [];
    ws.on("ping", (data) => clientPings.push(data.toString()));
    assert.equal(await echo(ws, "before"), "before");
    await new Promise((resolve) => setTimeout(resolve, 4000));
    assert.equal(ws.readyState, WebSocket.OPEN, "still open after 4 s of quiet with proxy_read_timeout 1s");
    assert.equal(await echo(ws, "after"), "after");
    assert.ok(clientPings.length >= 2, `the client was pinged (${clientPings.length} pings)`);
    assert.deepEqual(backend.pongs, [], "the client's answers to wsgate's pings did not reach the backend");
    // The backend was quiet too: it got wsgate's own pings (masked, answered by `ws`), never the client's.
    assert.ok(backend.pings.length >= 2, `the backend was pinged (${backend.pings.length})`);
    assert.deepEqual(new Set(backend.pings), new Set([clientPings[0]]), "every ping at the backend is wsgate's token");
  });

  test("a client's own pings and pongs pass untouched both ways", async () => {
    const backend = await echoBackend();
    stops.push(() => backend.close());
    const wsgate = await start("wsgate_ping 10s;", backend);
    const ws = await openWs(`ws://127.0.0.1:${portOf(wsgate)}/`);
    stops.push(async () => ws.terminate());
    const pong = new Promise<string>((resolve) => ws.once("pong", (data) => resolve(data.toString())));
    ws.ping("mine");
    assert.equal(await withTimeout(pong, 5000, "the backend's pong"), "mine");
    ws.pong("unasked");
    // A pong the size of wsgate's token, but not its payload, passes too.
    ws.pong("wsgateXXXXXX");
    await waitFor(() => backend.pongs.length === 2, 5000, "the client's pongs at the backend");
    assert.deepEqual(backend.pings, ["mine"]);
    assert.deepEqual(backend.pongs, ["unasked", "wsgateXXXXXX"]);
  });

  test("an upstream that never answers is cut; the client gets 1001 and the line names the upstream", async () => {
    const backend = await rawBackend();
    stops.push(() => backend.close());
    const wsgate = await start("wsgate_ping 1s 1s;", backend);
    const ws = await openWs(`ws://127.0.0.1:${portOf(wsgate)}/`);
    stops.push(async () => ws.terminate());
    const code = closeCodeOf(ws, 8000);
    await waitFor(() => backend.peers.length === 1, 5000, "the tunnel at the backend");
    const ping = await backend.peers[0]!.got.next(9, 4000);
    assert.equal(ping.masked, true, "a ping to the upstream is masked");
    assert.equal(await code, 1001);
    await withTimeout(backend.peers[0]!.closed, 5000, "the upstream socket closed");
    await waitFor(() => /did not answer ping/.test(wsgate.errorLog()), 5000, "the error-log line");
    assert.match(
      wsgate.errorLog(),
      /\[info\] .*upstream did not answer ping within 1s while proxying upgraded connection/,
    );
  });

  test("a ping never lands inside a frame in flight: it waits for the end of a large frame sent slowly", async () => {
    const backend = await rawBackend();
    stops.push(() => backend.close());
    const wsgate = await start("wsgate_ping 1s 10s;", backend);
    const client = await rawClient(portOf(wsgate));
    stops.push(async () => client.socket.destroy());
    await waitFor(() => backend.peers.length === 1, 5000, "the tunnel at the backend");
    const upstream = backend.peers[0]!.socket;
    const payload = Buffer.alloc(60_000, 0x61);
    const whole = serverFrame(2, payload);
    // The frame goes in 12 pieces over ~2.4 s: the client is quiet past the interval meanwhile.
    const pieces = 12;
    const step = Math.ceil(whole.length / pieces);
    for (let i = 0; i < pieces; i++) {
      upstream.write(whole.subarray(i * step, (i + 1) * step));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const ping = await client.got.next(9, 4000);
    assert.equal(ping.opcode, 9);
    const frames = client.got.frames;
    assert.equal(frames[0]!.opcode, 2, "the large frame came first, whole");
    assert.deepEqual(frames[0]!.payload, payload);
    assert.equal(frames[1]!.opcode, 9, "then the ping");
  });
  test("send limits still hold with pings on: a client that stops reading is cut after send_timeout", async () => {
    const backend = await rawBackend();
    stops.push(() => backend.close());
    const wsgate = await start("wsgate_ping 1s 30s; send_timeout 1s;", backend);
    const client = await rawClient(portOf(wsgate));
    client.socket.pause();
    await waitFor(() => backend.peers.length === 1, 5000, "the tunnel at the backend");
    const upstream = backend.peers[0]!.socket;
    const chunk = serverFrame(2, Buffer.alloc(64 * 1024, 1));
    for (let i = 0; i < 256 && upstream.write(chunk); i++);
    for (let i = 0; i < 64; i++) upstream.write(chunk);
    await withTimeout(backend.peers[0]!.closed, 8000, "the upstream side closed");
    await waitFor(() => /client timed out/.test(wsgate.errorLog()), 5000, "the error-log line");
    assert.match(
      wsgate.errorLog(),
      /\[info\] .*client timed out \(110: Connection timed out\) while proxying upgraded connection/,
    );
    client.socket.destroy();
  });
});
