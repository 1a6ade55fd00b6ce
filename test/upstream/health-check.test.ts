/**
 * wsgate_health_check: peers marked down by failed checks get no new
 * connections, come back after `passes` good checks, and their open tunnels
 * are never touched; the state changes are logged and shown by
 * wsgate_upstream_status.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { until } from "../support/wait.js";
import { closeSocket, echo, fetchVia, openSocket, startBackend, type NamedBackend } from "./backends.js";
import { httpConf, startWsgate, type WsgateProcess, freePort } from "../support/proxy.js";

interface PeerStatus {
  address: string;
  state: string;
  active: number;
  health_check?: { passes: number; fails: number; last: string };
}

async function peers(port: number, group: string): Promise<PeerStatus[]> {
  const reply = await fetchVia(port, "/status");
  assert.equal(reply.status, 200);
  assert.match(String(reply.headers["content-type"]), /application\/json/);
  const parsed = JSON.parse(reply.body) as { upstreams: Record<string, { peers: PeerStatus[] }> };
  return parsed.upstreams[group]!.peers;
}

async function bodies(port: number, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push((await fetchVia(port, `/r${i}`)).body);
  return out;
}

describe("active health checks", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function setUp(
    check: string,
  ): Promise<{ a: NamedBackend; b: NamedBackend; gate: WsgateProcess; port: number }> {
    const [a, b] = await Promise.all([startBackend("a"), startBackend("b")]);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const port = await freePort();
    const gate = await startWsgate({
      conf: httpConf(`
      upstream u {
        server 127.0.0.1:${a.port};
        server 127.0.0.1:${b.port};
        ${check}
      }
      server {
        listen 127.0.0.1:${port};
        location / {
          proxy_pass http://u;
          proxy_http_version 1.1;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection "upgrade";
        }
        location = /status { wsgate_upstream_status; }
      }`),
    });
    cleanup.push(() => gate.stop());
    cleanup.push(async () => {
      if (process.env["WSGATE_DEBUG"]) console.log(gate.errorLog());
    });
    return { a, b, gate, port };
  }

  test("type=http: fails marks a peer down, passes brings it back; its tunnel is untouched", async () => {
    const { a, gate, port } = await setUp(
      "wsgate_health_check interval=100ms passes=2 fails=2 uri=/health/ready timeout=500ms;",
    );
    await until(() => a.healthChecks >= 1, 3000, "a first check");
    assert.deepEqual(new Set(await bodies(port, 4)), new Set(["a", "b"]));
    let tunnel = await openSocket(port);
    if (!(await echo(tunnel, "hi")).startsWith("a:")) {
      // Round-robin sent the tunnel to b; the next one goes to a.
      const second = await openSocket(port);
      assert.equal(await echo(second, "hi"), "a: hi");
      await closeSocket(tunnel);
      tunnel = second;
    }

    a.healthStatus = 503;
    await until(
      () =>
        /\[warn\] \d+#\d+: health check: upstream server 127\.0\.0\.1:\d+ in upstream "u" is down/.test(
          gate.errorLog(),
        ),
      5000,
      "a marked down",
    );
    assert.match(
      gate.errorLog(),
      new RegExp(`127\\.0\\.0\\.1:${a.port} in upstream "u" is down after 2 failed checks \\(status 503\\)`),
    );
    assert.deepEqual(await bodies(port, 4), ["b", "b", "b", "b"]);
    const down = (await peers(port, "u")).find((peer) => peer.address.endsWith(`:${a.port}`))!;
    assert.equal(down.state, "checked-down");
    assert.equal(down.health_check?.last, "status 503");
    assert.equal(await echo(tunnel, "still"), "a: still", "the open tunnel to a goes on");

    a.healthStatus = 200;
    await until(
      () => /\[notice\] \d+#\d+: health check: upstream server .* is up after 2 passed checks/.test(gate.errorLog()),
      5000,
      "a back up",
    );
    assert.ok((await bodies(port, 4)).includes("a"));
    assert.equal((await peers(port, "u")).find((peer) => peer.address.endsWith(`:${a.port}`))!.state, "up");
    assert.equal(await echo(tunnel, "after"), "a: after");
    await closeSocket(tunnel);
  });

  test("type=websocket: a peer that stops accepting is marked down, and up again when it listens", async () => {
    const { a, gate, port } = await setUp(
      "wsgate_health_check type=websocket interval=100ms passes=1 fails=1 uri=/ws;",
    );
    await a.stopListening();
    await until(() => gate.errorLog().includes("is down after 1 failed checks"), 10_000, "a down");
    assert.match(gate.errorLog(), /is down after 1 failed checks \(connect\(\) failed \(111: Connection refused\)\)/);
    assert.deepEqual(await bodies(port, 3), ["b", "b", "b"]);
    await a.listenAgain();
    await until(() => gate.errorLog().includes("is up after 1 passed checks"), 10_000, "a up");
    const status = await peers(port, "u");
    assert.deepEqual(
      status.map((peer) => peer.state),
      ["up", "up"],
    );
    assert.equal(status[0]!.health_check?.last, "ok");
  });
});
