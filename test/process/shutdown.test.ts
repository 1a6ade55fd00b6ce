/**
 * Graceful shutdown (QUIT) with the master/worker model: HTTP requests in
 * flight complete; WebSocket tunnels are ended as configured — with
 * `wsgate_shutdown_drain`, every client and every backend gets a 1001 close
 * frame, spread over the drain time; by default (nginx) a tunnel stays until
 * worker_shutdown_timeout, then is cut; with `wsgate_close_frames on` it gets
 * a 1001 close frame at that moment instead.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { WebSocket } from "ws";
import { startWsgate, freePort, waitFor, type WsgateProcess } from "../support/proxy.js";
import {
  closeCode,
  echoBackend,
  httpGet,
  openWs,
  processConf,
  proxyServer,
  roundTrip,
  stopStarted,
  type EchoBackend,
  type Started,
} from "./harness.js";

function exitOf(wsgate: WsgateProcess, ms: number): Promise<number | null> {
  if (!wsgate.alive()) return Promise.resolve(wsgate.child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wsgate did not exit within ${ms} ms`)), ms);
    wsgate.child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe("graceful shutdown (QUIT)", () => {
  const started: Started[] = [];

  after(async () => {
    await stopStarted(started, "SIGKILL");
  });

  async function start(
    main: string,
    name: string,
  ): Promise<{ wsgate: WsgateProcess; port: number; backend: EchoBackend }> {
    const backend = await echoBackend(name);
    const port = await freePort();
    const wsgate = await startWsgate({ conf: processConf(main, proxyServer(port, backend.port)) });
    started.push({ wsgate, backend });
    return { wsgate, port, backend };
  }

  test("wsgate_shutdown_drain: every client and backend gets 1001, spread over the drain; requests in flight complete", async () => {
    const { wsgate, port, backend } = await start("worker_processes 2; wsgate_shutdown_drain 1s;", "D");
    const clients: WebSocket[] = [];
    for (let i = 0; i < 12; i++) {
      const ws = await openWs(`ws://127.0.0.1:${port}/`);
      assert.equal(await roundTrip(ws, `m${i}`), `D:m${i}`);
      clients.push(ws);
    }
    // Two requests in flight when QUIT arrives: the backend answers after 800 ms.
    const slow = [httpGet(port, "/slow?delay=800"), httpGet(port, "/slow?delay=800")];
    await backend.requested("/slow?delay=800", 2);
    const closedAt: number[] = [];
    const codes = clients.map((ws) =>
      closeCode(ws).then((code) => {
        closedAt.push(Date.now());
        return code;
      }),
    );
    process.kill(wsgate.pid, "SIGQUIT");

    assert.deepEqual(await Promise.all(codes), Array(12).fill(1001), "each client got a 1001 close frame");
    for (const answer of await Promise.all(slow)) assert.deepEqual(answer, { status: 200, body: "D /slow?delay=800" });
    assert.equal(await exitOf(wsgate, 10_000), 0);
    assert.deepEqual(backend.closeCodes, Array(12).fill(1001), "each backend connection got a 1001 close frame");
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    assert.ok(spread >= 500, `the closes were spread over the drain (${spread} ms between the first and last)`);
    assert.match(wsgate.errorLog(), /signal 3 \(SIGQUIT\) received, shutting down/);
    assert.match(wsgate.errorLog(), /\[notice\] \d+#\d+: gracefully shutting down/);
  });

  test("default (nginx): a tunnel stays open after QUIT until worker_shutdown_timeout, then is cut without a close frame", async () => {
    const { wsgate, port } = await start("worker_shutdown_timeout 1s;", "N");
    const ws = await openWs(`ws://127.0.0.1:${port}/`);
    assert.equal(await roundTrip(ws, "x"), "N:x");
    const code = closeCode(ws);
    process.kill(wsgate.pid, "SIGQUIT");
    await waitFor(() => / gracefully shutting down\n/.test(wsgate.errorLog()), 5000, "the worker's shutdown notice");
    assert.equal(await roundTrip(ws, "still"), "N:still", "the tunnel still works during the shutdown");
    assert.equal(await code, 1006, "cut, no close frame");
    assert.equal(await exitOf(wsgate, 10_000), 0);
  });

  test("wsgate_close_frames on: at worker_shutdown_timeout the tunnel gets 1001 both ways instead of a cut", async () => {
    const { wsgate, port, backend } = await start("worker_shutdown_timeout 1s; wsgate_close_frames on;", "F");
    const ws = await openWs(`ws://127.0.0.1:${port}/`);
    assert.equal(await roundTrip(ws, "x"), "F:x");
    const code = closeCode(ws);
    process.kill(wsgate.pid, "SIGQUIT");
    await waitFor(() => / gracefully shutting down\n/.test(wsgate.errorLog()), 5000, "the worker's shutdown notice");
    assert.equal(await roundTrip(ws, "still"), "F:still", "the tunnel still works until the timeout");
    assert.equal(await code, 1001);
    assert.equal(await exitOf(wsgate, 10_000), 0);
    assert.deepEqual(backend.closeCodes, [1001]);
  });
});
