/**
 * The same upstream configuration under Debian's nginx and under wsgate, with
 * the same backends: the same sequence of picks for round-robin with weights,
 * the same client→server mapping for ip_hash, and the same key→server mapping
 * for hash and hash consistent; the same tries, in the same order, in
 * $upstream_addr and $upstream_status, and the same error-log lines, when
 * peers are dead, answer 500 or close the connection.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { skipWithoutNginx, startPeer } from "../differential/peers.js";
import { linesEventually } from "../support/sockets.js";
import { fetchVia, startBackend, type NamedBackend } from "./backends.js";
import { freePort } from "../support/proxy.js";

const skip = skipWithoutNginx();

const LOG = `log_format up '$request_uri|$remote_addr|$upstream_addr|$upstream_status|$status';`;

async function bothRuns(
  http: string,
  drive: (port: number) => Promise<void>,
  expectedLines: number,
): Promise<Record<"nginx" | "wsgate", { log: string[]; errors: string[] }>> {
  const out = {} as Record<"nginx" | "wsgate", { log: string[]; errors: string[] }>;
  for (const name of ["nginx", "wsgate"] as const) {
    const peer = await startPeer(name, http);
    try {
      await drive(peer.port);
      await linesEventually(() => peer.readLog("up.log"), expectedLines);
      out[name] = {
        log: peer.readLog("up.log").split("\n").filter(Boolean),
        errors: peer
          .errorLog()
          .split("\n")
          .filter((line) => / \[(warn|error)\] /.test(line))
          .map((line) =>
            line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 ").replace(/host: "[^"]*"/, "host: HOST"),
          ),
      };
    } finally {
      await peer.stop();
    }
  }
  return out;
}

describe("differential: balancing methods pick as nginx does", { skip }, () => {
  let a: NamedBackend, b: NamedBackend, c: NamedBackend;
  before(async () => {
    [a, b, c] = await Promise.all([startBackend("a"), startBackend("b"), startBackend("c")]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
  });

  const upstreams = (): string => `
    ${LOG}
    upstream rr { server 127.0.0.1:${a.port} weight=3; server 127.0.0.1:${b.port}; server 127.0.0.1:${c.port} weight=2; }
    upstream iph { ip_hash; server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port}; server 127.0.0.1:${c.port} weight=2; }
    upstream h { hash $arg_k; server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port} weight=2; server 127.0.0.1:${c.port}; }
    upstream ch { hash $arg_k consistent; server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port} weight=2; server 127.0.0.1:${c.port}; }
    upstream chd { hash $arg_k consistent; server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port} down; server 127.0.0.1:${c.port}; }
    server {
      listen 127.0.0.1:PORT;
      access_log logs/up.log up;
      location /rr { proxy_pass http://rr; }
      location /iph { proxy_pass http://iph; }
      location /h { proxy_pass http://h; }
      location /ch { proxy_pass http://ch; }
      location /chd { proxy_pass http://chd; }
    }`;

  test("round-robin with weights: the same sequence", async () => {
    const runs = await bothRuns(
      upstreams(),
      async (port) => {
        for (let i = 0; i < 18; i++) await fetchVia(port, `/rr?i=${i}`);
      },
      18,
    );
    assert.equal(runs.wsgate.log.length, 18);
    assert.deepEqual(runs.wsgate.log, runs.nginx.log);
  });

  test("ip_hash: the same server for each client network (clients bound to 127.x.y.1)", async () => {
    const clients: string[] = [];
    for (let i = 0; i < 24; i++) clients.push(`127.${i % 3}.${i * 7}.1`);
    const runs = await bothRuns(
      upstreams(),
      async (port) => {
        for (const local of clients) await fetchVia(port, `/iph`, { localAddress: local });
      },
      clients.length,
    );
    assert.equal(runs.wsgate.log.length, clients.length);
    assert.ok(new Set(runs.nginx.log.map((line) => line.split("|")[2])).size > 1, "the clients spread");
    assert.deepEqual(runs.wsgate.log, runs.nginx.log);
  });

  test("hash and hash consistent: the same key→server mapping (a down server included)", async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `room-${i * 13}`);
    const runs = await bothRuns(
      upstreams(),
      async (port) => {
        for (const key of keys) {
          await fetchVia(port, `/h?k=${key}`);
          await fetchVia(port, `/ch?k=${key}`);
          await fetchVia(port, `/chd?k=${key}`);
        }
      },
      keys.length * 3,
    );
    assert.equal(runs.wsgate.log.length, keys.length * 3);
    assert.deepEqual(runs.wsgate.log, runs.nginx.log);
  });
});

describe("differential: failed tries as nginx makes and logs them", { skip }, () => {
  let good: NamedBackend, five: NamedBackend, bad: NamedBackend;
  let dead: number, dead2: number;
  let closer: Server;
  let closerPort: number;
  before(async () => {
    [good, five, bad] = await Promise.all([startBackend("good"), startBackend("five"), startBackend("bad")]);
    five.status = 500;
    bad.status = 502;
    dead = await freePort();
    dead2 = await freePort();
    // Reads the request, then closes without answering.
    closer = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.once("data", () => socket.destroy());
    });
    await new Promise<void>((resolve) => closer.listen(0, "127.0.0.1", resolve));
    const address = closer.address();
    closerPort = typeof address === "object" && address ? address.port : 0;
  });
  after(async () => {
    await Promise.all([good?.close(), five?.close(), bad?.close()]);
    await new Promise<void>((resolve) => (closer ? closer.close(() => resolve()) : resolve()));
  });

  const conf = (): string => `
    ${LOG}
    upstream deadfirst { server 127.0.0.1:${dead}; server 127.0.0.1:${good.port}; }
    upstream fivefirst { server 127.0.0.1:${five.port}; server 127.0.0.1:${good.port}; }
    upstream badfirst { server 127.0.0.1:${bad.port}; server 127.0.0.1:${good.port}; }
    upstream closefirst { server 127.0.0.1:${closerPort} max_fails=0; server 127.0.0.1:${good.port}; }
    upstream nolive { server 127.0.0.1:${dead}; server 127.0.0.1:${dead2}; }
    upstream limited { server 127.0.0.1:${dead} max_fails=0; server 127.0.0.1:${dead2} max_fails=0; server 127.0.0.1:${good.port}; }
    server {
      listen 127.0.0.1:PORT;
      access_log logs/up.log up;
      location /deadfirst { proxy_pass http://deadfirst; }
      location /five { proxy_pass http://fivefirst; proxy_next_upstream error http_500; }
      location /fivepassed { proxy_pass http://fivefirst; }
      location /bad { proxy_pass http://badfirst; }
      location /badlisted { proxy_pass http://badfirst; proxy_next_upstream error timeout http_502; }
      location /close { proxy_pass http://closefirst; }
      location /closeidem { proxy_pass http://closefirst; proxy_next_upstream error non_idempotent; }
      location /nolive { proxy_pass http://nolive; }
      location /off { proxy_pass http://limited; proxy_next_upstream off; }
      location /tries { proxy_pass http://limited; proxy_next_upstream_tries 2; }
    }`;

  test("$upstream_addr, $upstream_status and the error log list every try", async () => {
    const requests: Array<[string, string]> = [
      ["GET", "/deadfirst"],
      ["GET", "/deadfirst"],
      ["GET", "/five"],
      ["GET", "/fivepassed"],
      ["GET", "/bad"],
      ["GET", "/bad"],
      ["GET", "/badlisted"],
      ["GET", "/close"],
      ["POST", "/close"],
      ["POST", "/closeidem"],
      ["GET", "/nolive"],
      ["GET", "/nolive"],
      ["GET", "/off"],
      ["GET", "/tries"],
    ];
    const statuses: Record<string, number[]> = { nginx: [], wsgate: [] };
    let run = 0;
    const runs = await bothRuns(
      conf(),
      async (port) => {
        const name = run++ === 0 ? "nginx" : "wsgate";
        for (const [method, path] of requests) {
          const reply = await fetchVia(port, path, method === "POST" ? { method, body: "x=1" } : { method });
          statuses[name]!.push(reply.status);
        }
      },
      requests.length,
    );
    assert.deepEqual(statuses["wsgate"], statuses["nginx"]);
    assert.equal(runs.wsgate.log.length, requests.length);
    assert.deepEqual(runs.wsgate.log, runs.nginx.log);
    assert.deepEqual(runs.wsgate.errors, runs.nginx.errors);
  });
});
