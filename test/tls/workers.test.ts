/**
 * TLS in the master/worker model (worker_processes 2): a worker accepts the
 * TCP connection and runs the handshake. Broken handshakes —
 * garbage, a client that stops mid-handshake, one that never sends a byte —
 * close only their own connection (client_header_timeout bounds them, logged
 * at info as nginx logs them) while wss:// tunnels keep echoing, large
 * messages included; a reload to another certificate and backend leaves the
 * open TLS tunnels with their session and backend, while new connections get
 * the new certificate.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import type { WebSocket } from "ws";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { echoBackend, killAll, processConf, startedWorkers, writeConf, type EchoBackend } from "../process/harness.js";
import { makeCerts, opensslSkip, type TestCerts } from "./certs.js";
import { closeWs, openWss, rawExchange, roundTrip, tlsExchange } from "./clients.js";
import { until } from "../support/wait.js";

const skip = opensslSkip();

/** The start of a TLS ClientHello that announces 512 bytes and sends 11. */
const PARTIAL_HELLO = Buffer.from("1603010200010001fc0303", "hex");

describe("TLS with workers: broken handshakes, tunnels, reload", { skip }, () => {
  let certs: TestCerts;
  let a: EchoBackend;
  let b: EchoBackend;
  let port: number;
  let wsgate: WsgateProcess;

  const conf = (cert: "a.test" | "b.test", backend: EchoBackend): string =>
    processConf(
      "worker_processes 2;",
      `client_header_timeout 1s;
      server {
        listen 127.0.0.1:${port} ssl;
        server_name a.test;
        ssl_certificate ${cert}.crt;
        ssl_certificate_key ${cert}.key;
        location / {
          proxy_pass http://127.0.0.1:${backend.port};
          proxy_http_version 1.1;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection "upgrade";
        }
      }`,
    );

  before(async () => {
    certs = makeCerts();
    a = await echoBackend("A");
    b = await echoBackend("B");
    port = await freePort();
    // The certificates are read relative to the configuration's directory.
    const files: Record<string, string> = {};
    for (const name of ["a.test.crt", "a.test.key", "b.test.crt", "b.test.key"]) {
      files[name] = readFileSync(join(certs.dir, name), "latin1");
    }
    wsgate = await startWsgate({ conf: conf("a.test", a), files });
  });

  after(async () => {
    const workers = startedWorkers(wsgate?.errorLog() ?? "");
    await wsgate?.stop("SIGTERM");
    killAll(workers);
    await a?.close();
    await b?.close();
    certs?.remove();
  });

  const url = (): string => `wss://127.0.0.1:${port}/chat`;

  test("broken handshakes close only their own connection; tunnels keep echoing", async () => {
    const tunnels: WebSocket[] = [];
    for (let i = 0; i < 4; i++) tunnels.push(await openWss(url(), "a.test"));
    for (const [i, ws] of tunnels.entries()) assert.equal(await roundTrip(ws, `m${i}`), `A:m${i}`);

    // Garbage: an alert, then the connection is closed.
    const garbage = await rawExchange(port, Buffer.from("16030100056869686968", "hex"));
    assert.equal(garbage.toString("hex"), "1503030002020a");
    // A client that stops mid-handshake, and one that never sends a byte: closed after client_header_timeout.
    const stalled = [PARTIAL_HELLO, Buffer.alloc(0)].map(
      (bytes) =>
        new Promise<number>((resolve) => {
          const started = Date.now();
          const socket = connect(port, "127.0.0.1", () => {
            if (bytes.length > 0) socket.write(bytes);
          });
          socket.on("error", () => undefined);
          socket.on("close", () => resolve(Date.now() - started));
          setTimeout(() => socket.destroy(), 8000);
        }),
    );
    // Meanwhile every tunnel echoes, a 3 MB message included, and new https requests are served.
    for (const [i, ws] of tunnels.entries()) assert.equal(await roundTrip(ws, `again${i}`), `A:again${i}`);
    const big = "y".repeat(3 * 1024 * 1024);
    assert.equal((await roundTrip(tunnels[0]!, big)).length, big.length + 2);
    const { reply, subject } = await tlsExchange(port, "GET /x HTTP/1.0\r\nHost: a.test\r\n\r\n", {
      servername: "a.test",
    });
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nA \/x$/);
    assert.equal(subject, "a.test");
    for (const ms of await Promise.all(stalled)) assert.ok(ms >= 900 && ms < 7000, `closed after ${ms} ms`);
    for (const [i, ws] of tunnels.entries()) assert.equal(await roundTrip(ws, `after${i}`), `A:after${i}`);

    await waitFor(() => (wsgate.errorLog().match(/while SSL handshaking/g) ?? []).length >= 3, 5000, "log lines");
    const log = wsgate.errorLog();
    assert.match(
      log,
      /\[info\] \d+#\d+: \*\d+ SSL_do_handshake\(\) failed \(SSL: error:0A0000F4:SSL routines::unexpected message\) while SSL handshaking, client: 127\.0\.0\.1, server: 127\.0\.0\.1:\d+\n/,
    );
    assert.equal(
      (log.match(/\[info\] \d+#\d+: \*\d+ client timed out \(110: Connection timed out\) while SSL handshaking/g) ?? [])
        .length,
      2,
      log,
    );

    // A close from the client reaches the backend as a close frame, over TLS as over TCP.
    const closes = a.closeCodes.length;
    await closeWs(tunnels.pop()!);
    await waitFor(() => a.closeCodes.length > closes, 5000, "the backend's close");
    assert.equal(a.closeCodes[a.closeCodes.length - 1], 1000);

    // Reload to another certificate and backend: open tunnels stay, new connections get the new ones.
    writeConf(wsgate.prefix, conf("b.test", b));
    process.kill(wsgate.pid, "SIGHUP");
    // No event marks the new workers taking over: ask until one answers with the new certificate.
    const fresh = await until(
      async () => {
        const reply = await tlsExchange(port, "GET /y HTTP/1.0\r\nHost: a.test\r\n\r\n", { servername: "a.test" });
        return reply.subject === "b.test" && reply;
      },
      15_000,
      "a new connection with the new certificate",
      100,
    );
    assert.match(fresh.reply, /\r\n\r\nB \/y$/);
    // Old and new workers both accept until the old ones have closed their listening sockets (they say so).
    await waitFor(
      () => (wsgate.errorLog().match(/gracefully shutting down\n/g) ?? []).length >= 2,
      10_000,
      "the old workers to stop accepting",
    );
    const newer = await openWss(url(), "a.test");
    assert.equal(await roundTrip(newer, "n"), "B:n");
    for (const [i, ws] of tunnels.entries()) assert.equal(await roundTrip(ws, `old${i}`), `A:old${i}`);
    for (const ws of [...tunnels, newer]) await closeWs(ws);
  });

  test("a session resumes on another worker: the workers share the ticket keys", async () => {
    // Which worker accepts each connection is the kernel's choice: over 8 connections both take some
    // (bench/RESULTS.md, "Workers accept for themselves"), and every one must resume.
    let session: Buffer | undefined;
    const reused: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      const answer = await tlsExchange(port, "GET /z HTTP/1.0\r\nHost: a.test\r\n\r\n", {
        servername: "a.test",
        ...(session ? { session } : {}),
      });
      assert.match(answer.reply, /^HTTP\/1\.1 200 OK\r\n/);
      session = answer.session ?? session;
      reused.push(answer.reused);
    }
    assert.deepEqual(reused, [false, true, true, true, true, true, true, true]);
  });
});
