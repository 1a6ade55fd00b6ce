/**
 * The seed end to end: the echo backend (src/examples/echo-server.ts), wsgate
 * with the seed's map/upstream/server/location on free ports, and the real
 * wscat package as the client; then the access-log line byte for byte.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { WebSocket, WebSocketServer } from "ws";
import { startEchoServer } from "../../src/examples/echo-server.js";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { logLinePattern, logLines, seedConf } from "./wire.js";
import { runWscat } from "../support/wscat.js";

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
