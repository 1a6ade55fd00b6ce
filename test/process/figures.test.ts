/**
 * The server's figures are the whole server's, not the serving worker's:
 * with two workers, N WebSocket tunnels spread over both show in stub_status
 * as nginx's shared counters would (`Active connections: N+1`, the status
 * request's own connection included, every connection accepted, handled and
 * requested counted once), and follow as tunnels close; a worker killed, or a
 * reload that retires a generation, never makes accepts, handled or requests
 * go back; wsgate_upstream_status merges both workers' view of each peer;
 * $connections_active and $connections_writing read the whole server's too.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { WebSocket } from "ws";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { until } from "../support/wait.js";
import {
  alive,
  closeCode,
  echoBackend,
  holderOf,
  openWs,
  roundTrip,
  startedWorkers,
  stopStarted,
  writeConf,
  type Started,
} from "./harness.js";

function conf(port: number, backend: number, dead = 1): string {
  return `worker_processes 2;
pid logs/nginx.pid;
error_log logs/error.log info;
events {}
http {
  log_format pids '$pid $status $request_uri $connections_active $connections_writing';
  access_log logs/access.log pids;
  upstream u { server 127.0.0.1:${backend}; }
  upstream v { server 127.0.0.1:${dead} max_fails=1 fail_timeout=60s; server 127.0.0.1:${backend} backup; }
  server {
    listen 127.0.0.1:${port};
    location /ws {
      proxy_pass http://u;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
    location /plain { proxy_pass http://u; }
    location /failing { proxy_pass http://v; }
    location = /status { stub_status; }
    location = /upstreams { wsgate_upstream_status; }
  }
}
`;
}

interface StubStatus {
  readonly active: number;
  readonly accepts: number;
  readonly handled: number;
  readonly requests: number;
  readonly reading: number;
  readonly writing: number;
  readonly waiting: number;
}

/** stub_status's text, read as nginx writes it (trailing spaces included). */
function parseStubStatus(text: string): StubStatus {
  const match =
    /^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$/.exec(
      text,
    );
  assert.ok(match, `stub_status's layout: ${JSON.stringify(text)}`);
  const [active, accepts, handled, requests, reading, writing, waiting] = match.slice(1).map(Number);
  return {
    active: active!,
    accepts: accepts!,
    handled: handled!,
    requests: requests!,
    reading: reading!,
    writing: writing!,
    waiting: waiting!,
  };
}

/** One GET on a connection of its own (Connection: close): the body, after checking the status. */
async function get(port: number, path: string): Promise<string> {
  const reply = (
    await exchange(port, `GET ${path} HTTP/1.1\r\nHost: figures\r\nConnection: close\r\n\r\n`, hasWholeResponse)
  ).toString("latin1");
  assert.match(reply, /^HTTP\/1\.1 200 /, reply);
  return reply.slice(reply.indexOf("\r\n\r\n") + 4);
}

async function stubStatus(port: number): Promise<StubStatus> {
  return parseStubStatus(await get(port, "/status"));
}

interface PeerView {
  readonly address: string;
  readonly state: string;
  readonly active: number;
  readonly requests: number;
  readonly fails: number;
  readonly workers?: number;
  readonly down_in?: number;
}

async function peers(port: number, group = "u"): Promise<PeerView[]> {
  const status = JSON.parse(await get(port, "/upstreams")) as { upstreams: Record<string, { peers: PeerView[] }> };
  return status.upstreams[group]!.peers;
}

function pidsOf(wsgate: WsgateProcess, status: string): string[] {
  return wsgate
    .accessLog()
    .split("\n")
    .filter((line) => line.split(" ")[1] === status)
    .map((line) => line.split(" ")[0]!);
}

describe("the server's figures, summed over the workers", () => {
  const started: Started[] = [];
  const clients: WebSocket[] = [];

  after(async () => {
    for (const ws of clients) ws.terminate();
    await stopStarted(started, "SIGTERM");
  });

  async function start(): Promise<{ wsgate: WsgateProcess; port: number; backendPort: number; url: string }> {
    const backend = await echoBackend("F");
    const port = await freePort();
    const wsgate = await startWsgate({ conf: conf(port, backend.port) });
    started.push({ wsgate, backend });
    return { wsgate, port, backendPort: backend.port, url: `ws://127.0.0.1:${port}/ws` };
  }

  async function openTunnels(url: string, count: number): Promise<WebSocket[]> {
    const opened: WebSocket[] = [];
    for (let i = 0; i < count; i++) {
      const ws = await openWs(url);
      clients.push(ws);
      opened.push(ws);
      assert.equal(await roundTrip(ws, `m${i}`), `F:m${i}`);
    }
    return opened;
  }

  test("N tunnels over two workers: Active N+1, every connection counted once; closing some, it follows", async () => {
    const { wsgate, port, url } = await start();
    const n = 6;
    const tunnels = await openTunnels(url, n);
    // The status request's own connection is active and writing, as in nginx; the tunnels are writing.
    assert.deepEqual(await stubStatus(port), {
      active: n + 1,
      accepts: n + 1,
      handled: n + 1,
      requests: n + 1,
      reading: 0,
      writing: n + 1,
      waiting: 0,
    });

    const view = await peers(port);
    assert.equal(view.length, 1);
    assert.deepEqual(
      { state: view[0]!.state, active: view[0]!.active, requests: view[0]!.requests, fails: view[0]!.fails },
      { state: "up", active: n, requests: n, fails: 0 },
      "both workers' tunnels to the peer",
    );
    assert.equal(view[0]!.workers, 2);
    assert.equal(view[0]!.down_in, 0);

    // Two tunnels close: the figures follow (each status request is one more connection and request).
    for (const ws of tunnels.slice(0, 2)) ws.close();
    await Promise.all(tunnels.slice(0, 2).map((ws) => closeCode(ws)));
    let asked = 2; // the status and upstream-status requests so far
    const after2 = await until(
      async () => {
        asked++;
        const status = await stubStatus(port);
        return status.active === n - 2 + 1 ? status : undefined;
      },
      5000,
      "Active connections after two tunnels closed",
    );
    assert.deepEqual(after2, {
      active: n - 1,
      accepts: n + asked,
      handled: n + asked,
      requests: n + asked,
      reading: 0,
      writing: n - 1,
      waiting: 0,
    });
    await until(async () => (await peers(port))[0]!.active === n - 2, 5000, "the peer's count after two closed");

    for (const ws of tunnels.slice(2)) ws.close();
    await Promise.all(tunnels.slice(2).map((ws) => closeCode(ws)));
    await waitFor(() => pidsOf(wsgate, "101").length === n, 5000, "a log line per tunnel");
    // Which worker accepted each is the kernel's choice (workers.test.ts checks that both accept): every
    // tunnel was logged by one of them, and the counts above summed them all.
    const workers = startedWorkers(wsgate.errorLog());
    assert.ok(
      pidsOf(wsgate, "101").every((pid) => workers.includes(Number(pid))),
      "tunnels logged by the workers",
    );
  });

  test("a worker killed: accepts, handled and requests do not go back; its tunnels leave Active", async () => {
    const { wsgate, port, url } = await start();
    const tunnels = await openTunnels(url, 4);
    for (let i = 0; i < 4; i++) await get(port, `/plain/${i}`);
    const before = await stubStatus(port);
    assert.equal(before.accepts, 9);
    assert.equal(before.active, 5);
    const workers = startedWorkers(wsgate.errorLog()).filter(alive);
    assert.equal(workers.length, 2);
    // The kernel chose the worker that accepted each tunnel: kill the one holding the first.
    const localPort = (ws: WebSocket): number =>
      (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    const holders = tunnels.map((ws) => holderOf(port, localPort(ws), workers));
    const surviving = holders.filter((pid) => pid !== holders[0]).length;
    process.kill(holders[0]!, "SIGKILL");
    await waitFor(() => startedWorkers(wsgate.errorLog()).length === 3, 10_000, "the worker replaced");
    let asked = 0;
    const replaced = await until(
      async () => {
        asked++;
        const status = await stubStatus(port);
        return status.active < before.active ? status : undefined;
      },
      5000,
      "the killed worker's tunnels gone",
    );
    // Each status request after the first is one more connection and request, served; none is lost.
    assert.deepEqual(
      [replaced.accepts, replaced.handled, replaced.requests],
      [before.accepts + asked, before.handled + asked, before.requests + asked],
    );
    assert.equal(replaced.active, surviving + 1, "the surviving worker's tunnels and this request");
  });

  test("a reload: the old workers' counters stay in the totals, their tunnels count while they serve", async () => {
    const { wsgate, port, backendPort, url } = await start();
    const tunnels = await openTunnels(url, 2);
    for (let i = 0; i < 3; i++) await get(port, `/plain/${i}`);
    const before = await stubStatus(port);
    assert.deepEqual([before.active, before.accepts, before.requests], [3, 6, 6]);

    writeConf(wsgate.prefix, conf(port, backendPort));
    process.kill(wsgate.pid, "SIGHUP");
    await waitFor(() => startedWorkers(wsgate.errorLog()).length === 4, 10_000, "the new workers started");
    await waitFor(
      () => (wsgate.errorLog().match(/gracefully shutting down/g) ?? []).length === 2,
      10_000,
      "the old workers told to quit",
    );
    // The old workers still serve the two tunnels: the new ones' status request sees them.
    const during = await stubStatus(port);
    assert.deepEqual([during.active, during.writing], [3, 3]);
    assert.deepEqual([during.accepts, during.handled, during.requests], [7, 7, 7]);

    for (const ws of tunnels) ws.close();
    await Promise.all(tunnels.map((ws) => closeCode(ws)));
    await waitFor(
      () => (wsgate.errorLog().match(/worker process \d+ exited with code 0/g) ?? []).length === 2,
      10_000,
      "the old workers exited",
    );
    const afterwards = await stubStatus(port);
    assert.deepEqual(afterwards, {
      active: 1,
      accepts: 8,
      handled: 8,
      requests: 8,
      reading: 0,
      writing: 1,
      waiting: 0,
    });
  });

  test("$connections_active and $connections_writing count every worker's connections", async () => {
    const { wsgate, port, url } = await start();
    const n = 4;
    const tunnels = await openTunnels(url, n);
    // Each worker hears the other's figures once a second: both log the whole server's within a few.
    const lines = (): string[][] =>
      wsgate
        .accessLog()
        .split("\n")
        .filter((line) => line.includes(" /plain/"))
        .map((line) => line.split(" "));
    let i = 0;
    const both = await until(
      async () => {
        await get(port, `/plain/${i++}`);
        await waitFor(() => lines().length === i, 3000, "the request's log line");
        const whole = lines().filter((line) => line[3] === String(n + 1));
        return new Set(whole.map((line) => line[0])).size === 2 ? whole : undefined;
      },
      8000,
      "both workers logging every connection",
    );
    // At log time the request is no longer writing (nginx frees it first); its connection is active.
    assert.ok(
      both.every((line) => line[4] === String(n)),
      both.join("\n"),
    );
    for (const ws of tunnels) ws.close();
    await Promise.all(tunnels.map((ws) => closeCode(ws)));
  });

  test("a peer one worker sees failed and the other up is partly down, failures and requests summed", async () => {
    const dead = await freePort();
    const backend = await echoBackend("F");
    const port = await freePort();
    const wsgate = await startWsgate({ conf: conf(port, backend.port, dead) });
    started.push({ wsgate, backend });
    // One worker tries the dead peer, fails (max_fails=1) and passes the request to the backup.
    assert.match(await get(port, "/failing/1"), /F \/failing\/1/);
    const [failing, backup] = await peers(port, "v");
    assert.deepEqual(
      [failing!.state, failing!.fails, failing!.requests, failing!.workers, failing!.down_in],
      ["partly-down", 1, 1, 2, 1],
    );
    assert.deepEqual([backup!.state, backup!.requests, backup!.workers, backup!.down_in], ["up", 1, 2, 0]);
    assert.match(wsgate.errorLog(), /connect\(\) failed \(111: Connection refused\)/);
  });
});
