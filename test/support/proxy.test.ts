/**
 * The harness that starts wsgate for every suite (proxy.ts) and the waits it
 * builds on (wait.ts): a start is ready when it answers, a refused
 * configuration fails the start with wsgate's own words, stop() leaves
 * nothing behind, and waits fail naming what never happened.
 */

import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { test } from "node:test";
import { exchange } from "./sockets.js";
import { freePorts, httpConf, startWsgate, waitFor } from "./proxy.js";
import { eventWithin, once } from "./wait.js";

test("startWsgate with httpConf: serves at once, logs to logs/access.log, stop() exits 0 and removes the prefix", async () => {
  const [port] = await freePorts(1);
  const wsgate = await startWsgate({
    conf: httpConf(`server { listen 127.0.0.1:${port}; location / { return 200 "up\\n"; } }`),
  });
  try {
    assert.ok(wsgate.alive());
    const reply = (await exchange(port!, "GET /x HTTP/1.0\r\n\r\n")).toString("latin1");
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nup\n$/);
    await waitFor(() => wsgate.accessLog().includes('"GET /x HTTP/1.0" 200 '), 3000, "the access-log line");
  } finally {
    assert.equal(await wsgate.stop(), 0);
  }
  assert.equal(existsSync(wsgate.prefix), false, "the prefix is removed");
  assert.equal(wsgate.alive(), false);
});

test("a configuration wsgate refuses fails the start with wsgate's message", async () => {
  await assert.rejects(
    startWsgate({ conf: httpConf("no_such_directive on;") }),
    /wsgate did not start \(exit 1\): [^]*unknown directive "no_such_directive"/,
  );
});

test("freePorts: distinct ports, each free to listen on", async () => {
  const ports = await freePorts(3);
  assert.equal(new Set(ports).size, 3);
  for (const port of ports) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("the waits fail naming what never came; once() rejects on an error event, eventWithin does not", async () => {
  const emitter = new EventEmitter();
  await assert.rejects(eventWithin(emitter, "never", 30), /no "never" within 30 ms/);
  await assert.rejects(
    waitFor(() => false, 30, "a miracle"),
    /timed out after 30 ms waiting for a miracle/,
  );
  const failing = once(emitter, "close", 1000);
  emitter.emit("error", new Error("boom"));
  await assert.rejects(failing, /boom/);
  const closing = eventWithin<[number]>(emitter, "close", 1000);
  emitter.emit("close", 7);
  assert.deepEqual(await closing, [7]);
});
