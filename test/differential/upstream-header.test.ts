/**
 * Bytes nginx refuses inside an upstream's response head — a bare CR that a
 * client splitting lines on CR would read as a second header, a NUL, a CR
 * that does not end its line — against nginx: the same status (502, not the
 * upstream's bytes relayed), the same error-log line, the same access-log
 * line; and what nginx accepts (bare LF, CRs before the LF, a repeated
 * status line) passes.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { comparableErrors, comparableLog, skipWithoutNginx, peersWith, startScriptedBackend } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";

const skip = skipWithoutNginx();

/** What the backend sends for each path (then it closes the connection). */
const SCRIPTS: Readonly<Record<string, string>> = {
  "/cr-in-value": "HTTP/1.1 302 Found\r\nLocation: /x\rSet-Cookie: sess=attacker\r\nContent-Length: 0\r\n\r\n",
  "/cr-after-spaces": "HTTP/1.1 200 OK\r\nX-A: a  \rb\r\nContent-Length: 0\r\n\r\n",
  "/cr-in-name": "HTTP/1.1 200 OK\r\nX-A\rB: 1\r\nContent-Length: 0\r\n\r\n",
  "/cr-at-line-start": "HTTP/1.1 200 OK\r\nX-A: 1\r\n\rX-B: 2\r\nContent-Length: 0\r\n\r\n",
  "/nul-in-value": "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
  "/accepted-endings": "HTTP/1.1 200 OK\nX-A: 1\r\r\nX-B: 2\nContent-Length: 2\r\n\nok",
  // IIS may repeat its status line among the headers: nginx skips the line.
  "/repeated-status-line": "HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok",
};

/** The status line and the headers of the reply, Date and Server aside (their values differ by nature). */
function comparable(reply: Buffer): string {
  const text = reply.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  return (end === -1 ? text : text.slice(0, end))
    .split("\r\n")
    .filter((line) => !/^(date|server):/i.test(line))
    .join("\n");
}

describe("differential: bytes nginx refuses in an upstream's response head", { skip }, () => {
  let backend: { port: number; close(): Promise<void> };
  const peers = peersWith(
    async () => {
      backend = await startScriptedBackend(SCRIPTS);
      const conf = `server { listen PORT; location / { proxy_pass http://127.0.0.1:${backend.port}; } }`;
      return conf;
    },
    async () => {
      await backend?.close();
    },
  );

  for (const path of Object.keys(SCRIPTS)) {
    test(path, async () => {
      const request = `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
      const [nginx, wsgate] = await Promise.all([
        exchange(peers.nginx!.port, request),
        exchange(peers.wsgate!.port, request),
      ]);
      assert.equal(comparable(wsgate), comparable(nginx));
      if (!["/accepted-endings", "/repeated-status-line"].includes(path))
        assert.match(comparable(nginx), /^HTTP\/1\.1 502 /, "nginx refused the head");
      assert.doesNotMatch(wsgate.toString("latin1"), /attacker/);
    });
  }

  test("the access-log and error-log lines match", async () => {
    const count = comparableLog(peers.nginx!.accessLog()).length;
    assert.equal(count, Object.keys(SCRIPTS).length);
    await linesEventually(() => peers.wsgate!.accessLog(), count);
    assert.deepEqual(comparableLog(peers.wsgate!.accessLog()), comparableLog(peers.nginx!.accessLog()));
    const errors = comparableErrors(peers.nginx!.errorLog());
    assert.equal(errors.filter((line) => line.includes("upstream sent invalid header")).length, 5);
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), errors);
  });
});
