/**
 * Malformed and hostile requests over raw sockets, sent to nginx and to
 * wsgate: the same status line (or the same silent close), nothing reaches
 * the backend that nginx would not pass, and the server keeps serving.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startRecordingBackend, type RecordingBackend, peersWith } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";

const skip = skipWithoutNginx();

const CONF = (backend: number): string => `
  server {
    listen PORT;
    location / { proxy_pass http://127.0.0.1:${backend}; proxy_http_version 1.1; }
  }`;

const LONG = "a".repeat(9000);

/**
 * Each case: a name and the raw bytes. The expected answer is whatever nginx answers.
 * A case marked "streamed" has a bad body after a good head: nginx reads the whole body
 * before it connects upstream, wsgate streams it, so the backend may see the head and a
 * body cut short by a closed connection (README: "Request bodies are streamed").
 */
const CASES: ReadonlyArray<readonly [string, string, "streamed"?]> = [
  ["HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n"],
  ["two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
  [
    "two Authorization headers",
    "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YTpi\r\nAuthorization: Bearer x\r\n\r\n",
  ],
  [
    "Content-Length and Transfer-Encoding",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["an unknown Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"],
  ["an obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"],
  ["Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
  ["two Content-Length headers", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"],
  ["a signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\na"],
  ["a hex Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"],
  ["an invalid method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["HTTP/2.0 in the request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"],
  ["a space before the colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n"],
  ["a request line longer than 8k", `GET /${LONG} HTTP/1.1\r\nHost: a\r\n\r\n`],
  ["a header longer than 8k", `GET / HTTP/1.1\r\nHost: a\r\nX-Long: ${LONG}\r\n\r\n`],
  ["a path climbing above the root", "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["an encoded climb above the root", "GET /a/%2e%2e/%2e%2e/etc HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["an invalid host", "GET / HTTP/1.1\r\nHost: a/../b\r\n\r\n"],
  ["a Content-Length over client_max_body_size", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"],
  [
    "a chunked body over client_max_body_size",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
      `100000\r\n${"x".repeat(0x100000)}\r\n10\r\n${"y".repeat(16)}\r\n0\r\n\r\n`,
    "streamed",
  ],
  ["a bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "streamed"],
];

function statusLine(reply: Buffer): string {
  const text = reply.toString("latin1");
  return text === "" ? "(closed without a response)" : text.slice(0, text.indexOf("\r\n"));
}

describe("differential: malformed requests get nginx's answer", { skip }, () => {
  let backend: RecordingBackend;
  const peers = peersWith(
    async () => {
      backend = await startRecordingBackend();
      return CONF(backend.port);
    },
    async () => {
      await backend?.close();
    },
  );

  for (const [name, bytes, streamed] of CASES) {
    test(name, async () => {
      const before = backend.connections;
      // nginx lingers after an error, reading what the client may still send: stop at a whole response.
      const nginxReply = statusLine(await exchange(peers.nginx!.port, bytes, hasWholeResponse));
      const nginxPassed = backend.connections - before;
      const wsgateReply = statusLine(await exchange(peers.wsgate!.port, bytes, hasWholeResponse));
      const wsgatePassed = backend.connections - before - nginxPassed;
      assert.equal(wsgateReply, nginxReply);
      if (streamed) assert.ok(wsgatePassed <= 1);
      else assert.equal(wsgatePassed, nginxPassed, "connections made to the backend");
    });
  }

  test("a bare LF ends lines as in nginx: the request is answered as nginx answers it", async () => {
    const request = "GET / HTTP/1.1\nHost: a\nConnection: close\n\n";
    const nginxReply = statusLine(await exchange(peers.nginx!.port, request));
    const wsgateReply = statusLine(await exchange(peers.wsgate!.port, request));
    assert.equal(wsgateReply, nginxReply);
    assert.equal(wsgateReply, "HTTP/1.1 200 OK");
  });

  test("after all of that, both still serve", async () => {
    for (const peer of [peers.nginx!, peers.wsgate!]) {
      const reply = statusLine(await exchange(peer.port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
      assert.equal(reply, "HTTP/1.1 200 OK");
    }
  });
});
