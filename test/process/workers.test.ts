/**
 * Workers under the master: each accepts for itself on the listening sockets
 * the master handed it, and both get connections; a killed worker is
 * replaced (nginx's "exited on signal 9" line) without touching the other
 * workers' connections; a connection arriving while no worker is up waits in
 * the listen backlog instead of being refused; worker_connections; `user`.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WebSocket } from "ws";
import { MALLOC_TRIM_BYTES, MALLOC_TRIM_VARIABLE } from "../../src/process/malloc-env.js";
import { startWsgate, freePort, waitFor, WSGATE_BIN, type WsgateProcess } from "../support/proxy.js";
import { withTimeout } from "../support/wait.js";
import {
  alive,
  closeCode,
  echoBackend,
  holderOf,
  openWs,
  processConf,
  proxyServer,
  roundTrip,
  startedWorkers,
  stopStarted,
  type EchoBackend,
  type Started,
} from "./harness.js";

describe("worker processes", () => {
  const started: Started[] = [];
  const sockets: Socket[] = [];

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await stopStarted(started, "SIGTERM");
  });

  async function start(
    main: string,
    events = "",
  ): Promise<{ wsgate: WsgateProcess; port: number; backend: EchoBackend }> {
    const backend = await echoBackend("W");
    const port = await freePort();
    const wsgate = await startWsgate({ conf: processConf(main, proxyServer(port, backend.port), events) }).catch(
      async (err: unknown) => {
        // A start that fails leaves no backend listening behind it (the test process would never exit).
        await backend.close();
        throw err;
      },
    );
    started.push({ wsgate, backend });
    return { wsgate, port, backend };
  }

  test("a killed worker is replaced; the other worker's tunnels are untouched", async () => {
    const { wsgate, port, backend } = await start("worker_processes 2;");
    const workers = startedWorkers(wsgate.errorLog());
    assert.ok(workers.length === 2 && !workers.includes(wsgate.pid), "two workers, not the master");
    const clients: WebSocket[] = [];
    const holders = new Map<WebSocket, number>();
    for (let i = 0; i < 6; i++) {
      const ws = await openWs(`ws://127.0.0.1:${port}/`);
      assert.equal(await roundTrip(ws, `m${i}`), `W:m${i}`);
      clients.push(ws);
      const holder = holderOf(port, (ws as unknown as { _socket: Socket })._socket.localPort!, workers);
      assert.ok(holder !== undefined, `tunnel ${i} is held by a worker`);
      holders.set(ws, holder);
    }
    // The kernel chose which worker accepted each tunnel: kill the one holding the first.
    const killedPid = holders.get(clients[0]!)!;
    const otherPid = workers.find((pid) => pid !== killedPid)!;
    const killed = clients.filter((ws) => holders.get(ws) === killedPid);
    const survivors = clients.filter((ws) => holders.get(ws) !== killedPid);
    const codes = new Map(clients.map((ws) => [ws, closeCode(ws, 60_000)]));
    let closed = 0;
    for (const ws of clients) ws.once("close", () => closed++);
    process.kill(killedPid, "SIGKILL");
    await waitFor(() => startedWorkers(wsgate.errorLog()).length === 3, 10_000, "a new worker");
    await waitFor(() => closed === killed.length, 5000, `the killed worker's ${killed.length} tunnel(s) to close`);
    // A sleep on purpose: no other tunnel may close in this while.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(closed, killed.length, "only the killed worker's tunnels closed");
    // A worker killed by SIGKILL sends no close frame: both of its peers see the TCP cut (1006 in ws).
    const cut = killed.map(() => 1006);
    assert.deepEqual(await Promise.all(killed.map((ws) => codes.get(ws))), cut);
    await waitFor(
      () => backend.closeCodes.length === killed.length,
      5000,
      "the backend to see the killed worker's tunnels close",
    );
    assert.deepEqual(backend.closeCodes, cut);
    for (const [i, ws] of survivors.entries()) assert.equal(await roundTrip(ws, `after${i}`), `W:after${i}`);
    assert.match(
      wsgate.errorLog(),
      new RegExp(`\\[alert\\] ${wsgate.pid}#${wsgate.pid}: worker process ${killedPid} exited on signal 9`),
    );
    assert.ok(alive(otherPid), "the other worker is still the same process");
    const fresh = await openWs(`ws://127.0.0.1:${port}/`);
    assert.equal(await roundTrip(fresh, "new"), "W:new");
    const freshCode = closeCode(fresh);
    fresh.close(1000);
    for (const ws of survivors) ws.close(1000);
    // The surviving tunnels carry the closing handshake both ways: the backend gets the client's 1000 and echoes it.
    assert.deepEqual(
      await Promise.all(survivors.map((ws) => codes.get(ws))),
      survivors.map(() => 1000),
    );
    assert.equal(await freshCode, 1000);
    await waitFor(() => backend.closeCodes.length === 7, 5000, "the backend to see every tunnel close");
    assert.deepEqual(backend.closeCodes.slice(killed.length), Array(survivors.length + 1).fill(1000));
  });

  test("both workers accept: short connections 20 at a time reach each of them", async () => {
    const backend = await echoBackend("P");
    const port = await freePort();
    const server = `server { listen 127.0.0.1:${port}; location / { return 200 $pid; } }`;
    const wsgate = await startWsgate({ conf: processConf("worker_processes 2;", server) });
    started.push({ wsgate, backend });
    const workers = startedWorkers(wsgate.errorLog());
    const seen = new Map<string, number>();
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => oneRequest(port)));
      for (const answer of answers) {
        const [head, body = ""] = answer.split("\r\n\r\n");
        assert.match(head!, /^HTTP\/1\.1 200 /);
        seen.set(body, (seen.get(body) ?? 0) + 1);
      }
    }
    // Which worker accepts is the kernel's choice: no ratio is promised, only that neither is left out.
    assert.deepEqual([...seen.keys()].map(Number).sort(), [...workers].sort(), `answers by pid: ${[...seen]}`);
  });

  test("with its only worker killed, a new connection waits in the listen backlog for the replacement", async () => {
    const { wsgate, port } = await start("worker_processes 1;");
    const [worker] = startedWorkers(wsgate.errorLog());
    process.kill(worker!, "SIGKILL");
    const ws = await openWs(`ws://127.0.0.1:${port}/`, 15_000);
    assert.equal(await roundTrip(ws, "held"), "W:held");
    ws.close();
    assert.equal(startedWorkers(wsgate.errorLog()).length, 2);
  });

  test("worker_connections: at the limit a connection is accepted and closed, with nginx's alert", async () => {
    // 4 connections, one of them the listening socket (as nginx counts): 3 clients.
    const { wsgate, port } = await start("worker_processes 1;", "worker_connections 4;");
    const partial = async (): Promise<Socket> => {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      sockets.push(socket);
      await withTimeout(new Promise((resolve) => socket.once("connect", resolve)), 5000, "the connection");
      socket.write("GET / HTTP/1.1\r\n");
      return socket;
    };
    const held = [await partial(), await partial(), await partial()];
    // No event tells a client that the worker (not only the kernel) has taken its connection: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const extra = await partial();
    const extraData: Buffer[] = [];
    extra.on("data", (chunk: Buffer) => extraData.push(chunk));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the connection over the limit stayed open")), 5000);
      extra.once("close", () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    assert.equal(Buffer.concat(extraData).length, 0, "closed without an answer");
    for (const socket of held) assert.equal(socket.destroyed, false, "the connections within the limit stay");
    await waitFor(
      () => /\[alert\] \d+#\d+: 4 worker_connections are not enough\n/.test(wsgate.errorLog()),
      3000,
      "the alert",
    );
    // Finishing one request frees a connection for a new client. Its FIN may come before the upstream answers (a
    // 499, closed without a word) or after (the answer, then closed): read whatever comes, so that the end is seen.
    const closed = new Promise((resolve) => held[0]!.once("close", resolve));
    held[0]!.resume();
    held[0]!.end("Host: x\r\n\r\n");
    await withTimeout(closed, 5000, "the finished connection's close");
    const ws = await openWs(`ws://127.0.0.1:${port}/`);
    assert.equal(await roundTrip(ws, "room"), "W:room");
    ws.close();
  });

  test("worker_connections: at the limit the oldest connection waiting for a request makes room, as nginx", async () => {
    const { wsgate, port } = await start("worker_processes 1;", "worker_connections 4;");
    const idle = async (): Promise<Socket> => {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      sockets.push(socket);
      await withTimeout(new Promise((resolve) => socket.once("connect", resolve)), 5000, "the connection");
      return socket;
    };
    const first = await idle();
    const firstClosed = new Promise((resolve) => first.once("close", resolve));
    await idle();
    await idle();
    // No event tells a client that the worker (not only the kernel) has taken its connection: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ws = await openWs(`ws://127.0.0.1:${port}/`);
    assert.equal(await roundTrip(ws, "in"), "W:in");
    await firstClosed;
    ws.close();
    await waitFor(
      () => /\[warn\] \d+#\d+: 4 worker_connections are not enough, reusing connections\n/.test(wsgate.errorLog()),
      3000,
      "the warning",
    );
    assert.doesNotMatch(wsgate.errorLog(), /\[alert\]/);
  });

  test(
    "user, when started by root: the workers run as that user, the master stays root",
    { skip: process.geteuid?.() !== 0 && "not root" },
    async () => {
      const { wsgate } = await start("worker_processes 1; user nobody nogroup;");
      const [worker] = startedWorkers(wsgate.errorLog());
      const uid = (pid: number): string => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))![1]!;
      assert.equal(uid(worker!), "65534");
      assert.equal(uid(wsgate.pid), "0");
    },
  );

  test(
    "user, when not root: nginx's warning, with the place",
    { skip: process.geteuid?.() !== 0 && "needs root to run as another user" },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "wsgate-user-"));
      chmodSync(dir, 0o755);
      writeFileSync(join(dir, "nginx.conf"), "user www-data;\nevents { }\n");
      try {
        const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [WSGATE_BIN, "-t", "-p", dir, "-c", "nginx.conf"], {
            uid: 65534,
            gid: 65534,
            stdio: ["ignore", "ignore", "pipe"],
            timeout: 20_000,
          });
          let stderr = "";
          child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("latin1")));
          child.once("close", (code) => resolve({ code, stderr }));
        });
        assert.equal(result.code, 0);
        assert.equal(
          result.stderr.split("\n")[0],
          `wsgate: [warn] the "user" directive makes sense only if the master process runs with super-user privileges, ignored in ${join(dir, "nginx.conf")}:1`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test(
    "workers start with glibc's heap trim threshold raised (src/process/malloc-env.ts); a value already set is kept",
    { skip: !existsSync("/proc/self/environ") && "needs /proc" },
    async () => {
      const environOf = (pid: number): Map<string, string> =>
        new Map(
          readFileSync(`/proc/${pid}/environ`, "latin1")
            .split("\0")
            .filter((entry) => entry.includes("="))
            .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
        );
      const base = { ...process.env };
      delete base[MALLOC_TRIM_VARIABLE];
      for (const [env, expected] of [
        [base, MALLOC_TRIM_BYTES],
        [{ ...base, [MALLOC_TRIM_VARIABLE]: "1048576" }, "1048576"],
      ] as const) {
        const backend = await echoBackend("M");
        const port = await freePort();
        const conf = processConf("worker_processes 1;", proxyServer(port, backend.port));
        const wsgate = await startWsgate({ conf, env });
        started.push({ wsgate, backend });
        const [worker] = startedWorkers(wsgate.errorLog());
        assert.ok(worker, "a worker started");
        assert.equal(environOf(worker).get(MALLOC_TRIM_VARIABLE), expected);
        assert.equal(environOf(wsgate.pid).get(MALLOC_TRIM_VARIABLE), env[MALLOC_TRIM_VARIABLE]);
        const ws = await openWs(`ws://127.0.0.1:${port}/`);
        assert.equal(await roundTrip(ws, "heap"), "M:heap");
        ws.close();
      }
    },
  );
});

/** One HTTP/1.0 request on a connection of its own: the whole answer, once the server has closed it. */
function oneRequest(port: number): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (answer += chunk));
  socket.write("GET / HTTP/1.0\r\nHost: x\r\n\r\n");
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("end", () => resolve(answer));
      socket.once("error", reject);
    }),
    5000,
    "an answer",
  );
}
