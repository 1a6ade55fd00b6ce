/**
 * Running out of file descriptors: a request whose upstream socket cannot be
 * opened gets nginx's 500 and a `socket() failed` line; the process lives on
 * and serves again once descriptors are free.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, connect, type Server, type Socket } from "node:net";
import { exchange } from "../support/sockets.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { eventWithin } from "../support/wait.js";

/** Connect and tell whether the server kept the connection (false: it was closed at once). */
async function openIdle(port: number): Promise<{ socket: Socket; kept: boolean }> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  await eventWithin(socket, "connect", 2000);
  const kept = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(true), 100);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  return { socket, kept };
}

describe("out of file descriptors", () => {
  let backend: Server;
  let wsgate: WsgateProcess;
  let port: number;
  const idle: Socket[] = [];

  before(async () => {
    backend = createServer((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(
        `server { listen 127.0.0.1:${port}; location / { proxy_pass http://127.0.0.1:${address.port}; } }`,
        // One process: the worker model's own case is in test/process/descriptors.test.ts.
        "master_process off;",
      ),
      openFileLimit: 128,
    });
  });

  after(async () => {
    for (const socket of idle) socket.destroy();
    await wsgate?.stop();
    backend?.close();
  });

  test("the upstream socket that cannot be opened is a 500; then service resumes", async () => {
    // Fill every descriptor with idle client connections, until the server has to drop one.
    for (let i = 0; i < 300; i++) {
      const { socket, kept } = await openIdle(port);
      if (!kept) break;
      idle.push(socket);
    }
    assert.ok(idle.length > 10 && idle.length < 300, `held ${idle.length} connections`);
    // Free exactly one: the next client is accepted, and its upstream socket has no descriptor left.
    idle.pop()!.destroy();
    // No event tells the client when wsgate has released the descriptor (it logs nothing for an idle connection).
    await new Promise((resolve) => setTimeout(resolve, 100));
    const reply = (await exchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).toString("latin1");
    assert.match(reply, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
    assert.match(
      wsgate.errorLog(),
      /\[alert\] \d+#\d+: \*\d+ socket\(\) failed \(24: Too many open files\) while connecting to upstream, client: 127\.0\.0\.1/,
    );
    assert.equal(wsgate.child.exitCode, null, "wsgate is still running");

    for (const socket of idle.splice(0)) socket.destroy();
    // As above: no event marks wsgate releasing the descriptors.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = (await exchange(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).toString("latin1");
    assert.match(after, /^HTTP\/1\.1 200 OK\r\n/);
  });
});
