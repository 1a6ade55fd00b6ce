/**
 * The seed's system end to end: the shipped conf/nginx.conf and
 * conf/conf.d/websocket_proxy.conf (ports moved to free ones), the echo
 * backend, and the real wscat package as the client.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { WebSocketServer } from "ws";
import { startEchoServer } from "../../src/examples/echo-server.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { freePort, ROOT, WSGATE_BIN } from "../support/proxy.js";
import { until } from "../support/wait.js";
import { runWscat } from "../support/wscat.js";

/** The shipped files, with the seed's ports replaced and logs kept in `prefix`. */
function shippedConfig(prefix: string, backendPort: number, proxyPort: number): void {
  mkdirSync(join(prefix, "conf", "conf.d"), { recursive: true });
  mkdirSync(join(prefix, "logs"));
  const main = readFileSync(join(ROOT, "conf", "nginx.conf"), "latin1");
  const seed = readFileSync(join(ROOT, "conf", "conf.d", "websocket_proxy.conf"), "latin1");
  assert.match(seed, /server 127\.0\.0\.1:8010;/);
  assert.match(seed, /listen 8020;/);
  writeFileSync(join(prefix, "conf", "nginx.conf"), main);
  writeFileSync(join(prefix, "conf", "mime.types"), readFileSync(join(ROOT, "conf", "mime.types")));
  writeFileSync(
    join(prefix, "conf", "conf.d", "websocket_proxy.conf"),
    seed.replace("127.0.0.1:8010", `127.0.0.1:${backendPort}`).replace("listen 8020", `listen ${proxyPort}`),
  );
}

async function wscatOutput(port: number, message: string): Promise<string> {
  const { stdout, stderr } = await runWscat(`ws://127.0.0.1:${port}`, message);
  return stdout + stderr;
}

describe("the seed's setup, end to end", () => {
  let prefix: string;
  let echo: WebSocketServer;
  let proxy: ChildProcess;
  let proxyPort: number;

  before(async () => {
    prefix = mkdtempSync(join(tmpdir(), "wsgate-seed-"));
    const backendPort = await freePort();
    proxyPort = await freePort();
    shippedConfig(prefix, backendPort, proxyPort);
    echo = await startEchoServer(backendPort, "127.0.0.1");
    proxy = spawn(process.execPath, [WSGATE_BIN, "-p", prefix, "-g", "daemon off;"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    // The shipped layout (conf/nginx.conf, found without -c) is the subject, so not startWsgate's prefix; ready,
    // as there, when the pid file exists.
    await until(
      () => {
        assert.equal(proxy.exitCode, null, "wsgate exited");
        return existsSync(join(prefix, "logs", "nginx.pid"));
      },
      5000,
      "wsgate's pid file",
    );
  });

  after(async () => {
    if (proxy && proxy.exitCode === null) {
      const exited = new Promise((resolve) => proxy.once("exit", resolve));
      proxy.kill("SIGQUIT");
      await exited;
    }
    await new Promise((resolve) => echo?.close(resolve));
    rmSync(prefix, { recursive: true, force: true });
  });

  test("wscat through wsgate gets the echo server's answer", async () => {
    const output = await wscatOutput(proxyPort, "hello");
    assert.match(output, /Server received from client: hello/);
  });

  test("the access log gets one main-format line with status 101 and the tunnel's bytes", async () => {
    const log = (): string => readFileSync(join(prefix, "logs", "test_websocket.access.log"), "latin1");
    await linesEventually(log, 1);
    const reply = "Server received from client: hello";
    // The backend's text frame (2-byte header) and its answer to wscat's close, which carries no code: 2 bytes.
    const bodyBytes = 2 + reply.length + 2;
    assert.match(
      log().split("\n")[0]!,
      new RegExp(
        `^127\\.0\\.0\\.1 - - \\[\\d\\d/\\w{3}/\\d{4}:\\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\\] "GET / HTTP/1\\.1" 101 ${bodyBytes} "-" "-" "-"$`,
      ),
    );
  });

  test("plain HTTP is proxied: the backend's 426 comes back as nginx passes it", async () => {
    const reply = (
      await exchange(proxyPort, "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\nConnection: close\r\n\r\n")
    ).toString("latin1");
    assert.match(reply, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
    assert.match(reply, /\r\nServer: wsgate\/\d+\.\d+\.\d+\r\n/);
    assert.match(reply, /\r\nConnection: close\r\n/);
    assert.ok(reply.endsWith("Upgrade Required"));
  });

  test("the http-level access log is opened at start, as nginx opens it, though the server overrides it", () => {
    assert.ok(existsSync(join(prefix, "logs", "access.log")));
    assert.equal(readFileSync(join(prefix, "logs", "access.log"), "latin1"), "");
  });

  test("the error log has no error", () => {
    const errors = readFileSync(join(prefix, "logs", "error.log"), "latin1")
      .split("\n")
      .filter((line) => / \[(error|crit|alert|emerg)\] /.test(line));
    assert.deepEqual(errors, []);
  });
});
