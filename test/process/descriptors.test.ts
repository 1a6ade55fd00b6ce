/**
 * A worker out of file descriptors. The worker accepts for itself; near its
 * RLIMIT_NOFILE it stops accepting (closes its copies of the listening
 * sockets, with a crit line) and asks its master for them again every
 * 500 ms, as nginx pauses accept() for 500 ms on EMFILE. The connections
 * beyond its room wait in the listen backlog — none is closed unanswered, as
 * libuv's own EMFILE handling would — and are served once it has room.
 * Neither process dies.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { Socket } from "node:net";
import { freePort, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { until, withTimeout } from "../support/wait.js";
import { rawBackend, rawClient, seedConf, statusOf, type RawBackend, type RawClient } from "../e2e/wire.js";

const CLIENTS = 200;

describe("a worker out of file descriptors", () => {
  let backend: RawBackend;
  let wsgate: WsgateProcess;
  let port: number;
  const clients: RawClient[] = [];

  before(async () => {
    backend = await rawBackend(async (socket, reader) => {
      await reader.request();
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    port = await freePort();
    wsgate = await startWsgate({ conf: seedConf(port, backend.port), openFileLimit: 128 });
  });

  after(async () => {
    for (const { socket } of clients) socket.destroy();
    await wsgate?.stop();
    await backend?.close();
  });

  test("connections beyond its room wait in the listen backlog and are served once it has room", async () => {
    for (let i = 0; i < CLIENTS; i++) clients.push(await rawClient(port));
    await until(
      () =>
        /\[crit\] \d+#\d+: 128 file descriptors are not enough, accepting again in 500 ms\n/.test(wsgate.errorLog()),
      10_000,
      "the worker pausing accept",
    );
    // A sleep on purpose: a connection closed unanswered (libuv's EMFILE handling) would show in this while.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(
      clients.filter(({ socket }) => socket.destroyed || socket.readyState !== "open").length,
      0,
      "none closed",
    );
    assert.ok(wsgate.alive(), "the master lives");
    assert.doesNotMatch(wsgate.errorLog(), /exited on signal|exited with code|\[alert\]/, "the worker lives");

    // The first connections went to the worker; closing them makes room there.
    const first = clients.splice(0, CLIENTS / 2);
    await Promise.all(first.map(({ socket }) => closed(socket)));
    const waiting = clients.filter(({ socket }) => !socket.destroyed && socket.readyState === "open");
    assert.ok(waiting.length > 0, "some connections still wait");
    // One at a time: each request also needs a descriptor for its upstream connection. Should one
    // still meet EMFILE, libuv closes what is pending: such a connection ends without a response, never hangs.
    let served = 0;
    for (const { socket, reader } of waiting) {
      if (socket.destroyed) continue;
      socket.write(`GET /late HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      const response = await withTimeout(
        reader.response().catch(() => undefined),
        10_000,
        "a response on a waiting connection",
      );
      if (response === undefined) continue;
      assert.equal(statusOf(response), 200);
      served++;
    }
    assert.ok(served >= waiting.length / 2, `${served} of ${waiting.length} waiting connections served`);
    assert.ok(wsgate.alive());
  });
});

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once("close", () => resolve());
    socket.destroy();
  });
}
