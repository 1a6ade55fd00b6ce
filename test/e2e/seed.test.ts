/**
 * The seed end to end: the echo backend (src/examples/echo-server.ts), wsgate
 * with the seed's map/upstream/server/location on free ports, and the real
 * wscat package as the client; then the access-log line byte for byte.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { WebSocket, WebSocketServer } from "ws";
import { startEchoServer } from "../../src/examples/echo-server.js";
import { freePort, ROOT, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { logLinePattern, logLines, seedConf } from "./wire.js";

/** wscat -c URL -x MESSAGE -w 1, with its standard input open until it exits (it quits on EOF). */
function runWscat(url: string, message: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "node_modules", "wscat", "bin", "wscat"), "-c", url, "-x", message, "-w", "1"],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`wscat did not exit within 10 s; stdout: ${stdout} stderr: ${stderr}`));
    }, 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ code, stdout, stderr });
    });
  });
}

describe("the seed: echo backend + wsgate + wscat", () => {
  let echo: WebSocketServer;
  let wsgate: WsgateProcess;
  let proxyPort: number;
  /** How the backend saw each connection close. */
  const closes: Array<{ code: number; reason: string }> = [];

  before(async () => {
    const backendPort = await freePort();
    proxyPort = await freePort();
    echo = await startEchoServer(backendPort, "127.0.0.1");
    echo.on("connection", (socket: WebSocket) =>
      socket.on("close", (code, reason) => closes.push({ code, reason: reason.toString() })),
    );
    wsgate = await startWsgate({ conf: seedConf(proxyPort, backendPort) });
  });

  after(async () => {
    await wsgate?.stop();
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
  });

  test("wscat gets the echo, and the access log has the tunnel's line in the main format", async () => {
    const run = await runWscat(`ws://127.0.0.1:${proxyPort}`, "hello");
    assert.match(run.stdout, /Server received from client: hello/, `wscat said: ${run.stdout}${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);

    await waitFor(() => wsgate.accessLog("test_websocket.access.log") !== "", 3000, "the tunnel's log line");
    assert.equal(closes.length, 1, "the backend saw one connection close");
    // Bytes to the client after the 101 head: the echo's text frame (2-byte header, payload
    // under 126 bytes) and the backend's close frame (empty when the client sent no code).
    const reply = "Server received from client: hello";
    const close = closes[0]!;
    const closeFrame = close.code === 1005 ? 2 : 2 + 2 + Buffer.byteLength(close.reason);
    const sent = 2 + Buffer.byteLength(reply) + closeFrame;

    const log = wsgate.accessLog("test_websocket.access.log");
    assert.ok(log.endsWith("\n"), "the line ends in a newline");
    const lines = logLines(log);
    assert.equal(lines.length, 1, log);
    assert.match(lines[0]!, logLinePattern(`127.0.0.1 - - [TIME] "GET / HTTP/1.1" 101 ${sent} "-" "-" "-"`));
    // The server's access_log replaces the http level's: nothing went to logs/access.log.
    assert.equal(wsgate.accessLog("access.log"), "");
  });
});
