/**
 * nginx's timeouts on the client and upstream side, against nginx: what the
 * client receives (a status, or a close without one), how long it takes to
 * the second, and the access-log and error-log lines.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import {
  comparableErrors,
  comparableLog,
  skipWithoutNginx,
  startRecordingBackend,
  type Peer,
  type RecordingBackend,
  peersWith,
  listenTracked,
  type ScriptedBackend,
} from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";

const skip = skipWithoutNginx();

/** A backend that accepts and reads, and never answers. */
function startSilentBackend(): Promise<ScriptedBackend> {
  return listenTracked((socket) => socket.resume());
}

const conf = (answering: number, silent: number): string => `
  server {
    listen PORT;
    client_header_timeout 1s;
    client_body_timeout 1s;
    keepalive_timeout 1s;
    location / { proxy_pass http://127.0.0.1:${answering}; }
    location /silent { proxy_pass http://127.0.0.1:${silent}; proxy_read_timeout 1s; }
  }`;

/** What came back and after how many whole seconds (timeouts fire on the second; the rest is noise). */
async function timed(peer: Peer, request: string): Promise<{ reply: string; seconds: number }> {
  const started = Date.now();
  const reply = (await exchange(peer.port, request)).toString("latin1");
  const status = reply === "" ? "(closed without a response)" : reply.slice(0, reply.indexOf("\r\n"));
  return { reply: status, seconds: Math.round((Date.now() - started) / 1000) };
}

describe("differential: timeouts", { skip }, () => {
  let answering: RecordingBackend;
  let silent: { port: number; close(): Promise<void> };
  const peers = peersWith(
    async () => {
      answering = await startRecordingBackend();
      silent = await startSilentBackend();
      return conf(answering.port, silent.port);
    },
    async () => {
      await answering?.close();
      await silent?.close();
    },
  );

  const cases: ReadonlyArray<readonly [string, string]> = [
    ["client_header_timeout: a head that never ends", "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "],
    ["client_header_timeout: a request line that never ends", "GET /never"],
    ["keepalive_timeout: an idle kept-alive connection", "GET /idle HTTP/1.1\r\nHost: a\r\n\r\n"],
    ["client_body_timeout: a body that stops coming", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"],
    [
      "client_body_timeout: a chunked body that stops coming",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ],
    ["proxy_read_timeout: an upstream that never answers", "GET /silent HTTP/1.1\r\nHost: a\r\n\r\n"],
  ];
  for (const [name, request] of cases) {
    test(name, async () => {
      const [nginx, wsgate] = await Promise.all([timed(peers.nginx!, request), timed(peers.wsgate!, request)]);
      assert.deepEqual(wsgate, nginx);
    });
  }

  test("the access-log and error-log lines match", async () => {
    await linesEventually(() => peers.wsgate!.accessLog(), comparableLog(peers.nginx!.accessLog()).length);
    assert.deepEqual(comparableLog(peers.wsgate!.accessLog()), comparableLog(peers.nginx!.accessLog()));
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), comparableErrors(peers.nginx!.errorLog()));
  });
});
