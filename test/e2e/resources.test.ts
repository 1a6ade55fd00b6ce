/**
 * Running out of file descriptors: wsgate under `ulimit -n 64`, filled with
 * idle client connections until accept() fails; with one descriptor free, a
 * request whose upstream socket cannot be opened gets nginx's 500; the
 * process lives on and serves again once the connections are gone.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { Socket } from "node:net";
import { freePort, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { logLines, rawBackend, rawClient, rawExchange, seedConf, statusOf, type RawBackend } from "./wire.js";

/** Connect; true when the server keeps the connection (false: it closed it at once, accept() failed). */
async function openIdle(port: number): Promise<{ socket: Socket; kept: boolean }> {
  const { socket, reader } = await rawClient(port);
  const kept = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(true), 100);
    void reader.closed.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  return { socket, kept };
}

function request(port: number): string {
  return `GET /fd HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
}

describe("out of file descriptors", () => {
  let backend: RawBackend;
  let wsgate: WsgateProcess;
  let proxyPort: number;
  const idle: Socket[] = [];

  before(async () => {
    backend = await rawBackend(async (socket, reader) => {
      await reader.request();
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    proxyPort = await freePort();
    // One process, whose accept() fails as nginx's worker's does; the worker
    // model's own case is in test/process/descriptors.test.ts.
    wsgate = await startWsgate({
      conf: `master_process off;\n${seedConf(proxyPort, backend.port)}`,
      openFileLimit: 128,
    });
  });

  after(async () => {
    for (const socket of idle) socket.destroy();
    await wsgate?.stop();
    await backend?.close();
  });

  test("accept() fails when descriptors run out, a request then gets a 500, and service resumes", async () => {
    assert.equal(statusOf(await rawExchange(proxyPort, request(proxyPort))), 200, "serves before");

    let dropped = false;
    for (let i = 0; i < 300; i++) {
      const { socket, kept } = await openIdle(proxyPort);
      if (!kept) {
        socket.destroy();
        dropped = true;
        break;
      }
      idle.push(socket);
    }
    assert.ok(dropped, `accept() never failed with ${idle.length} idle connections`);
    assert.ok(idle.length > 10 && idle.length < 128, `held ${idle.length} connections under ulimit -n 128`);
    assert.ok(wsgate.alive(), "wsgate survives a failed accept()");

    // Free one descriptor: the next client is accepted, and its upstream socket has none left.
    const freed = idle.pop()!;
    await new Promise<void>((resolve) => {
      freed.once("close", () => resolve());
      freed.destroy();
    });
    // The client's close is not wsgate's: no event tells when wsgate has released the descriptor.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const starved = await rawExchange(proxyPort, request(proxyPort));
    assert.equal(starved.startLine, "HTTP/1.1 500 Internal Server Error");
    assert.ok(
      logLines(wsgate.errorLog()).some((line) =>
        /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[alert\] \d+#\d+: \*\d+ socket\(\) failed \(24: Too many open files\) while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET \/fd HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/fd", host: "127\.0\.0\.1:\d+"$/.test(
          line,
        ),
      ),
      wsgate.errorLog(),
    );
    assert.ok(wsgate.alive(), "wsgate is still running");

    const all = idle.splice(0);
    const closing = all.map((socket) => new Promise((resolve) => socket.once("close", resolve)));
    for (const socket of all) socket.destroy();
    await Promise.all(closing);
    // wsgate sees the closes a moment after the clients do (no event marks it).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const recovered = await rawExchange(proxyPort, request(proxyPort));
    assert.equal(recovered.startLine, "HTTP/1.1 200 OK");
    assert.equal(recovered.body.toString(), "ok");
    assert.ok(wsgate.alive());
  });
});
