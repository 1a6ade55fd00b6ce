/**
 * The tunnel's send limits over TLS, where the socket written to is a TLS
 * socket: a client that stops reading is cut off after send_timeout, an
 * upstream that stops reading (behind a TLS client that keeps sending) after
 * proxy_send_timeout — not after the much longer proxy_read_timeout — with
 * nginx's error-log lines.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { Server, Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { freePort, httpConf, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { eventWithin } from "../support/wait.js";
import { upgradeThrough, upgradingBackend } from "../flow/tunnel-cases.js";
import { makeCerts, opensslSkip, type TestCerts } from "./certs.js";

const LIMIT_MS = 1500;
const MB = Buffer.alloc(1024 * 1024, 0x5a);

function flood(socket: Socket): void {
  const pump = (): void => {
    while (!socket.destroyed && socket.write(MB));
    if (!socket.destroyed) socket.once("drain", pump);
  };
  pump();
}

describe("the tunnel over TLS: send_timeout and proxy_send_timeout", { skip: opensslSkip() }, () => {
  let certs: TestCerts;
  let wsgate: WsgateProcess;
  let backend: Server;
  let proxyPort: number;
  let onTunnel: (socket: Socket) => void = () => undefined;

  before(async () => {
    certs = makeCerts();
    const started = await upgradingBackend((socket) => onTunnel(socket));
    backend = started.server;
    proxyPort = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(
        `server {
        listen 127.0.0.1:${proxyPort} ssl;
        ssl_certificate ${certs.aCrt};
        ssl_certificate_key ${certs.aKey};
        location / {
          proxy_pass http://127.0.0.1:${started.port};
          proxy_http_version 1.1;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection upgrade;
          proxy_read_timeout 30s;
          send_timeout ${LIMIT_MS}ms;
          proxy_send_timeout ${LIMIT_MS}ms;
        }
      }`,
        "master_process off;",
      ),
    });
  });

  after(async () => {
    await wsgate?.stop();
    backend?.close();
    certs?.remove();
  });

  async function client(): Promise<TLSSocket> {
    const socket = tlsConnect({ host: "127.0.0.1", port: proxyPort, rejectUnauthorized: false, servername: "a.test" });
    socket.on("error", () => undefined);
    await eventWithin(socket, "secureConnect", 3000);
    await upgradeThrough(socket);
    return socket;
  }

  test("a TLS client that stops reading is cut off after send_timeout", async () => {
    const upstreamClosed = new Promise<number>((resolve) => {
      onTunnel = (socket) => {
        socket.once("close", () => resolve(Date.now()));
        flood(socket);
      };
    });
    const socket = await client();
    const start = Date.now();
    socket.pause();
    // Bounded: a tunnel left open fails the test after 10 s ("never" is not an event).
    const closedAt = await Promise.race([upstreamClosed, eventWithin<never>(socket, "never", 10_000)]);
    socket.destroy();
    const elapsed = closedAt - start;
    assert.ok(elapsed >= LIMIT_MS - 300 && elapsed < LIMIT_MS + 1500, `closed after ${elapsed} ms`);
  });

  test("an upstream that stops reading behind a TLS client is cut off after proxy_send_timeout", async () => {
    onTunnel = (socket) => socket.pause();
    const socket = await client();
    const start = Date.now();
    const closed = eventWithin(socket, "close", 10_000);
    flood(socket);
    await closed;
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= LIMIT_MS - 300 && elapsed < LIMIT_MS + 1500, `closed after ${elapsed} ms`);
  });

  test("nginx's error-log lines", async () => {
    const lines = (): string[] =>
      wsgate
        .errorLog()
        .split("\n")
        .filter((line) => line.includes("while proxying upgraded connection"))
        .map((line) => /\[info\] \d+#\d+: \*\d+ (.*?), client:/.exec(line)?.[1] ?? line);
    // The lines are written as the tunnels close; no event tells the test when the file has them.
    await waitFor(() => lines().length >= 2, 3000, "two timeout lines").catch(() => undefined);
    assert.deepEqual(lines(), [
      "client timed out (110: Connection timed out) while proxying upgraded connection",
      "upstream timed out (110: Connection timed out) while proxying upgraded connection",
    ]);
  });
});
