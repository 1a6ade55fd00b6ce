/**
 * The keepalive cache of upstream connections: reused only with HTTP/1.1 and
 * an empty Connection header; never handing out a connection the backend
 * closed while it was idle; not keeping a response that said
 * Connection: close; keepalive_requests.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { until } from "../support/wait.js";
import { closeSocket, echo, fetchVia, openSocket, startBackend, type NamedBackend } from "./backends.js";
import { httpConf, startWsgate, type WsgateProcess, freePort } from "../support/proxy.js";

describe("upstream keepalive", () => {
  let backend: NamedBackend;
  let other: NamedBackend;
  let gate: WsgateProcess;
  let port: number;

  before(async () => {
    [backend, other] = await Promise.all([startBackend("k"), startBackend("o")]);
    port = await freePort();
    gate = await startWsgate({
      conf: httpConf(`
      upstream pooled { server 127.0.0.1:${backend.port}; keepalive 2; }
      upstream limited { server 127.0.0.1:${other.port}; keepalive 2; keepalive_requests 2; }
      server {
        listen 127.0.0.1:${port};
        location /pooled { proxy_pass http://pooled; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /closing { proxy_pass http://pooled; proxy_http_version 1.1; }
        location /old { proxy_pass http://pooled; proxy_set_header Connection ""; }
        location /limited { proxy_pass http://limited; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /ws {
          proxy_pass http://pooled;
          proxy_http_version 1.1;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection "upgrade";
        }
      }`),
    });
  });
  after(async () => {
    await gate?.stop();
    await Promise.all([backend?.close(), other?.close()]);
  });

  async function connectionsFor(paths: string[]): Promise<number> {
    const before = backend.connections;
    for (const path of paths) {
      const reply = await fetchVia(port, path);
      assert.equal(reply.status, 200, `${path}: ${reply.body}`);
    }
    return backend.connections - before;
  }

  test("HTTP/1.1 with an empty Connection header: one connection for many requests", async () => {
    backend.closeIdle();
    assert.equal(await connectionsFor(["/pooled/1", "/pooled/2", "/pooled/3", "/pooled/4", "/pooled/5"]), 1);
  });

  test("with Connection: close sent (the default), or HTTP/1.0, every request has its own", async () => {
    // An idle connection cached by an earlier request would be used once (nginx picks it before building the request).
    backend.closeIdle();
    // No event tells the test that wsgate has seen the idle connections close: give the FIN a moment.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await connectionsFor(["/closing/1", "/closing/2", "/closing/3"]), 3);
    assert.equal(await connectionsFor(["/old/1", "/old/2", "/old/3"]), 3);
  });

  test("a connection the backend closed while idle is dropped at once, and the next request succeeds", async () => {
    assert.equal((await fetchVia(port, "/pooled/a")).status, 200);
    const errorsBefore = gate
      .errorLog()
      .split("\n")
      .filter((line) => / \[error\] /.test(line)).length;
    for (let i = 0; i < 3; i++) {
      backend.closeIdle();
      // The idle close reaches wsgate (no event tells the test when); then the next request must not be sent on
      // the dead connection.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const reply = await fetchVia(port, `/pooled/after-close-${i}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.body, "k");
    }
    const errors = gate
      .errorLog()
      .split("\n")
      .filter((line) => / \[error\] /.test(line));
    assert.equal(errors.length, errorsBefore, `no failed try: ${errors.slice(errorsBefore).join("\n")}`);
  });

  test("a response with Connection: close is not kept", async () => {
    backend.closeIdle();
    backend.closeEach = true;
    try {
      assert.equal(await connectionsFor(["/pooled/c1", "/pooled/c2", "/pooled/c3"]), 3);
    } finally {
      backend.closeEach = false;
    }
  });

  test("keepalive_requests: a connection serves that many requests, then a new one is opened", async () => {
    const before = other.connections;
    for (let i = 0; i < 6; i++) assert.equal((await fetchVia(port, `/limited/${i}`)).status, 200);
    assert.equal(other.connections - before, 3);
  });

  test("a tunnel's connection is never cached; requests after it get a live connection", async () => {
    const ws = await openSocket(port, "/ws");
    assert.equal(await echo(ws, "hi"), "k: hi");
    await closeSocket(ws);
    await until(() => backend.tunnels === 0, 3000, "the tunnel closed at the backend");
    for (let i = 0; i < 3; i++) assert.equal((await fetchVia(port, `/pooled/t${i}`)).status, 200);
  });

  test("concurrent requests: each gets a whole answer, at most keepalive N stay idle", async () => {
    backend.closeIdle();
    // No event tells the test that wsgate has seen the idle connections close: give the FIN a moment.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => fetchVia(port, `/pooled/p${i}`)));
    assert.deepEqual(
      replies.map((reply) => `${reply.status} ${reply.body}`),
      replies.map(() => "200 k"),
    );
    // A reply's last byte can reach the client before wsgate has put its upstream connection back in the
    // cache, and no event tells the test when it has: give the 12 releases a moment.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = backend.connections;
    await Promise.all([fetchVia(port, "/pooled/q1"), fetchVia(port, "/pooled/q2")]);
    assert.equal(backend.connections - before, 0, "two idle connections were kept and reused");
  });
});
