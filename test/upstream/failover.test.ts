/**
 * Failover and connection counting under wsgate with real backends: tunnels
 * hold their peer's count (least_conn, max_conns) and are never touched when
 * a peer fails or recovers; concurrent requests survive a dead peer;
 * proxy_next_upstream_timeout ends the retries.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { until } from "../support/wait.js";
import { closeSocket, echo, fetchVia, openSocket, startBackend, type NamedBackend } from "./backends.js";
import { httpConf, startWsgate, type WsgateProcess, freePort } from "../support/proxy.js";

const WS_LOCATION = `
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";`;

describe("tunnels and the peers' connection counts", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function setUp(
    upstream: (a: NamedBackend, b: NamedBackend) => string,
    extra = "",
  ): Promise<{
    a: NamedBackend;
    b: NamedBackend;
    gate: WsgateProcess;
    port: number;
  }> {
    const [a, b] = await Promise.all([startBackend("a"), startBackend("b")]);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const port = await freePort();
    const gate = await startWsgate({
      conf: httpConf(`
      log_format up '$request_uri $upstream_addr $upstream_status $status';
      upstream u { ${upstream(a, b)} }
      server {
        listen 127.0.0.1:${port};
        access_log logs/up.log up;
        location / { proxy_pass http://u; ${WS_LOCATION} ${extra} }
      }`),
    });
    cleanup.push(() => gate.stop());
    return { a, b, gate, port };
  }

  test("least_conn counts open tunnels: a backend restarted empty gets the new ones", async () => {
    const { a, b, port } = await setUp((a, b) => `least_conn; server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port};`);
    const first = await Promise.all([0, 1, 2, 3].map(() => openSocket(port)));
    const owners = await Promise.all(first.map((ws, i) => echo(ws, `m${i}`)));
    assert.equal(owners.filter((text) => text.startsWith("a:")).length, 2, owners.join());
    assert.equal(owners.filter((text) => text.startsWith("b:")).length, 2, owners.join());
    // b goes away with its tunnels, then comes back empty.
    const onB = first.filter((_, i) => owners[i]!.startsWith("b:"));
    await Promise.all(onB.map((ws) => closeSocket(ws)));
    await until(() => b.tunnels === 0, 3000, "b's tunnels closed");
    const second = await Promise.all([0, 1].map(() => openSocket(port)));
    const secondOwners = await Promise.all(second.map((ws, i) => echo(ws, `n${i}`)));
    assert.deepEqual(
      secondOwners.map((text) => text.slice(0, 1)),
      ["b", "b"],
      "a still holds two tunnels, so both new ones go to b",
    );
    // The tunnels to a were not touched.
    const stillOnA = first.filter((_, i) => owners[i]!.startsWith("a:"));
    for (const ws of stillOnA) assert.match(await echo(ws, "still"), /^a: still$/);
    assert.equal(a.tunnels, 2);
    await Promise.all([...first, ...second].map((ws) => closeSocket(ws)));
  });

  test("a peer that fails takes no new requests; its open tunnel goes on; it comes back after fail_timeout", async () => {
    const { a, port, gate } = await setUp(
      (a, b) => `server 127.0.0.1:${a.port} fail_timeout=1s; server 127.0.0.1:${b.port};`,
    );
    // Round-robin: the first tunnel goes to a.
    const ws = await openSocket(port);
    assert.equal(await echo(ws, "hello"), "a: hello");
    await a.stopListening();
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await fetchVia(port, `/r${i}`));
    assert.deepEqual(
      replies.map((reply) => `${reply.status} ${reply.body}`),
      ["200 b", "200 b", "200 b", "200 b"],
    );
    assert.match(gate.errorLog(), /\[warn\] .*upstream server temporarily disabled while connecting to upstream/);
    assert.equal(await echo(ws, "during"), "a: during", "the tunnel to the failed peer is untouched");
    await a.listenAgain();
    // Time itself is the subject: fail_timeout (1s) has to run out, no event marks it.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const back = [];
    for (let i = 0; i < 4; i++) back.push((await fetchVia(port, `/s${i}`)).body);
    assert.ok(back.includes("a"), `a is back after fail_timeout: ${back.join()}`);
    assert.equal(await echo(ws, "after"), "a: after", "and the tunnel is still the same");
    await closeSocket(ws);
  });

  test("max_conns: an open tunnel fills its peer; the next one gets 502 and no live upstreams", async () => {
    const { port, gate } = await setUp((a) => `server 127.0.0.1:${a.port} max_conns=1;`);
    const ws = await openSocket(port);
    assert.equal(await echo(ws, "x"), "a: x");
    const refused = await fetchVia(port, "/second");
    assert.equal(refused.status, 502);
    await until(() => gate.errorLog().includes("no live upstreams"), 3000, "no live upstreams");
    assert.match(
      gate.errorLog(),
      /\[error\] .*no live upstreams while connecting to upstream, .*upstream: "http:\/\/u\/second"/,
    );
    await closeSocket(ws);
    await until(() => gate.accessLog("up.log").includes("/ws"), 3000, "the tunnel's log line");
    assert.equal((await fetchVia(port, "/third")).status, 200, "the closed tunnel gave its place back");
  });
});

describe("retries under load and in time", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  test("concurrent requests with one peer dead all succeed, each dead try listed", async () => {
    const [b, c] = await Promise.all([startBackend("b"), startBackend("c")]);
    cleanup.push(
      () => b.close(),
      () => c.close(),
    );
    const dead = await freePort();
    const port = await freePort();
    const gate = await startWsgate({
      conf: httpConf(`
      log_format up '$upstream_addr|$upstream_status|$status';
      upstream u { server 127.0.0.1:${dead} max_fails=0; server 127.0.0.1:${b.port}; server 127.0.0.1:${c.port}; }
      server { listen 127.0.0.1:${port}; access_log logs/up.log up; location / { proxy_pass http://u; } }`),
    });
    cleanup.push(() => gate.stop());
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => fetchVia(port, `/c${i}`)));
    assert.deepEqual(new Set(replies.map((reply) => reply.status)), new Set([200]));
    await until(() => gate.accessLog("up.log").trim().split("\n").length >= 30, 3000, "30 log lines");
    const lines = gate.accessLog("up.log").trim().split("\n");
    const withDead = lines.filter((line) => line.startsWith(`127.0.0.1:${dead}, `));
    assert.ok(withDead.length >= 9, `the dead peer was tried about a third of the time: ${withDead.length}`);
    for (const line of withDead) assert.match(line, /^127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\|502, 200\|200$/);
  });

  test("proxy_next_upstream_timeout: no further try once it has passed", async () => {
    const [slow, fast] = await Promise.all([startBackend("slow"), startBackend("fast")]);
    cleanup.push(
      () => slow.close(),
      () => fast.close(),
    );
    slow.delayMs = 2000;
    const port = await freePort();
    const gate = await startWsgate({
      conf: httpConf(`
      log_format up '$request_uri|$upstream_addr|$upstream_status|$status';
      upstream u { server 127.0.0.1:${slow.port}; server 127.0.0.1:${fast.port}; }
      server {
        listen 127.0.0.1:${port};
        access_log logs/up.log up;
        proxy_read_timeout 300ms;
        location /limited { proxy_pass http://u; proxy_next_upstream_timeout 200ms; }
        location /free { proxy_pass http://u; }
      }`),
    });
    cleanup.push(() => gate.stop());
    assert.equal((await fetchVia(port, "/limited")).status, 504);
    // Round-robin's next pick is fast; make slow the first again with a fresh pair of requests.
    assert.equal((await fetchVia(port, "/free")).status, 200);
    await until(() => gate.accessLog("up.log").trim().split("\n").length >= 2, 3000, "2 log lines");
    const [limited] = gate.accessLog("up.log").trim().split("\n");
    assert.match(limited!, new RegExp(`^/limited\\|127\\.0\\.0\\.1:${slow.port}\\|504\\|504$`));
    assert.match(gate.errorLog(), /upstream timed out \(110: Connection timed out\) while reading response header/);
  });
});

describe("retries with a request body, and of WebSocket handshakes", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function setUp(): Promise<{ port: number; gate: WsgateProcess; good: NamedBackend }> {
    const good = await startBackend("good");
    cleanup.push(() => good.close());
    // Reads the whole request, then closes without answering: a failure after the request was sent.
    const { createServer } = await import("node:net");
    const closer = createServer((socket) => {
      socket.on("error", () => undefined);
      let seen = "";
      socket.on("data", (chunk: Buffer) => {
        seen += chunk.toString("latin1");
        const end = seen.indexOf("\r\n\r\n");
        const length = Number(/content-length: *(\d+)/i.exec(seen)?.[1] ?? 0);
        if (end !== -1 && Buffer.byteLength(seen, "latin1") - end - 4 >= length) socket.destroy();
      });
    });
    await new Promise<void>((resolve) => closer.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise<void>((resolve) => closer.close(() => resolve())));
    const address = closer.address();
    const closerPort = typeof address === "object" && address ? address.port : 0;
    const dead = await freePort();
    const port = await freePort();
    const gate = await startWsgate({
      conf: httpConf(`
      log_format up '$request_method $request_uri|$upstream_addr|$upstream_status|$status';
      upstream closing { server 127.0.0.1:${closerPort} max_fails=0; server 127.0.0.1:${good.port}; }
      upstream closing2 { server 127.0.0.1:${closerPort} max_fails=0; server 127.0.0.1:${good.port}; }
      upstream closing3 { server 127.0.0.1:${closerPort} max_fails=0; server 127.0.0.1:${good.port}; }
      upstream deadfirst { server 127.0.0.1:${dead} max_fails=0; server 127.0.0.1:${good.port}; }
      server {
        listen 127.0.0.1:${port};
        access_log logs/up.log up;
        client_max_body_size 4m;
        location / { proxy_pass http://closing; }
        location /big { proxy_pass http://closing; proxy_request_buffering off; }
        location /post { proxy_pass http://closing2; }
        location /postok { proxy_pass http://closing3; proxy_next_upstream error non_idempotent; }
        location /ws { proxy_pass http://deadfirst; ${WS_LOCATION} }
      }`),
    });
    cleanup.push(() => gate.stop());
    return { port, gate, good };
  }

  test("a body read whole is sent again to the next peer; POST only with non_idempotent", async () => {
    const { port, gate } = await setUp();
    const put = await fetchVia(port, "/put", { method: "PUT", body: "payload" });
    assert.deepEqual([put.status, put.body], [200, "good payload"]);
    const post = await fetchVia(port, "/post", { method: "POST", body: "payload" });
    assert.equal(post.status, 502, "a POST already sent is not retried");
    const allowed = await fetchVia(port, "/postok", { method: "POST", body: "again" });
    assert.deepEqual([allowed.status, allowed.body], [200, "good again"], "with non_idempotent it is");
    await until(() => gate.accessLog("up.log").trim().split("\n").length >= 3, 3000, "3 log lines");
    const [putLine, postLine, allowedLine] = gate.accessLog("up.log").trim().split("\n");
    assert.match(allowedLine!, /^POST \/postok\|127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\|502, 200\|200$/);
    assert.match(putLine!, /^PUT \/put\|127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\|502, 200\|200$/);
    assert.match(postLine!, /^POST \/post\|127\.0\.0\.1:\d+\|502\|502$/);
  });

  test("a body streamed too large to keep is not sent twice (proxy_request_buffering off)", async () => {
    const { port, gate } = await setUp();
    const big = "x".repeat(1536 * 1024);
    const reply = await fetchVia(port, "/big", { method: "PUT", body: big });
    assert.equal(reply.status, 502);
    await until(() => gate.accessLog("up.log").includes("/big"), 3000, "the log line");
    assert.match(gate.accessLog("up.log"), /^PUT \/big\|127\.0\.0\.1:\d+\|502\|502$/m);
  });

  test("a buffered body in a temporary file is sent again to the next peer", async () => {
    const { port, gate } = await setUp();
    const big = "y".repeat(1536 * 1024);
    const reply = await fetchVia(port, "/spooled", { method: "PUT", body: big });
    assert.equal(reply.status, 200);
    assert.ok(reply.body === `good ${big}`, "the whole body, twice read from the file");
    await until(() => gate.accessLog("up.log").includes("/spooled"), 3000, "the log line");
    assert.match(gate.accessLog("up.log"), /^PUT \/spooled\|127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\|502, 200\|200$/m);
  });

  test("a WebSocket handshake goes on to the next peer when the first is dead", async () => {
    const { port, gate } = await setUp();
    const ws = await openSocket(port, "/ws");
    assert.equal(await echo(ws, "hi"), "good: hi");
    await closeSocket(ws);
    await until(() => gate.accessLog("up.log").includes("/ws"), 3000, "the tunnel's log line");
    assert.match(gate.accessLog("up.log"), /^GET \/ws\|127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\|502, 101\|101$/m);
  });
});
