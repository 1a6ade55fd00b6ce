/**
 * Hostile requests over raw sockets, sent to nginx and to wsgate with the
 * same configuration: the same status line (or the same silent close), and
 * byte for byte the same request head at the backend — so no header trick
 * smuggles a different request through wsgate than through nginx.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startRecordingBackend, type RecordingBackend, peersWith } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";

const skip = skipWithoutNginx();

const CONF = (backend: number): string => `
  server {
    listen PORT;
    location / {
      proxy_pass http://127.0.0.1:${backend};
      proxy_http_version 1.1;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Uri $uri;
    }
  }`;

/** 999 short headers (with Host: nginx's max_headers 1000, all passed on), 2,100 (too many), 1,800 long ones (more than the buffers hold). */
const headerLines = (n: number, line: (i: number) => string): string =>
  Array.from({ length: n }, (_, i) => line(i)).join("");
const MANY_HEADERS = headerLines(999, (i) => `H${i}:1\r\n`);
const TOO_MANY_HEADERS = headerLines(2100, (i) => `H${i}:1\r\n`);
const TOO_LONG_HEADERS = headerLines(900, (i) => `X-Header-${i}: ${"v".repeat(24)}\r\n`);

/**
 * Each case: a name and the raw bytes. Expected: whatever nginx answers, and what nginx's backend
 * received. "streamed" cases have a good head and a bad body: nginx reads the whole body before it
 * connects upstream, wsgate streams it (README: "Request bodies are streamed"), so for those only the
 * status is compared and the backend may have seen the head. "rechunked" cases have a good chunked
 * body: nginx sends it on de-chunked with a length, wsgate streams it chunked to an HTTP/1.1
 * upstream (the same README section), so the status and the number of requests are compared.
 */
const CASES: ReadonlyArray<readonly [string, string, ("streamed" | "rechunked")?]> = [
  ["999 headers and Host, all passed on (no silent truncation)", `GET / HTTP/1.1\r\nHost: a\r\n${MANY_HEADERS}\r\n`],
  ["2,100 headers: over max_headers", `GET / HTTP/1.1\r\nHost: a\r\n${TOO_MANY_HEADERS}\r\n`],
  ["900 long headers: more than the header buffers hold", `GET / HTTP/1.1\r\nHost: a\r\n${TOO_LONG_HEADERS}\r\n`],
  ["obs-fold continuation line", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"],
  ["NUL in a header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n"],
  ["a CR inside a header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc: d\r\n\r\n"],
  ["NUL in a header name", "GET / HTTP/1.1\r\nHost: a\r\nX\x00A: b\r\n\r\n"],
  ["an underscore in a header name (dropped)", "GET / HTTP/1.1\r\nHost: a\r\nX_A: b\r\nX-B: c\r\n\r\n"],
  ["an invalid character in a header name (dropped)", "GET / HTTP/1.1\r\nHost: a\r\nX@A: b\r\nX-B: c\r\n\r\n"],
  ["CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"],
  ["TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["an absolute-form target", "GET http://b/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["an absolute-form target without Host", "GET http://b/x HTTP/1.1\r\n\r\n"],
  [
    "Transfer-Encoding in upper case",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    "rechunked",
  ],
  [
    "Transfer-Encoding with a tab",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
  ],
  [
    "Transfer-Encoding: xchunked",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
  ],
  [
    "Transfer-Encoding: chunked, chunked",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
  ],
  [
    "Transfer-Encoding twice",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["Transfer_Encoding with an underscore", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n"],
  ["Transfer-Encoding folded", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"],
  ["Content-Length with a trailing space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 \r\n\r\nx"],
  ["Content-Length: 1, 1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx"],
  ["Content-Length overflowing 64 bits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"],
  [
    "a chunk size of +1",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\nx\r\n0\r\n\r\n",
    "streamed",
  ],
  [
    "a chunk size of 0x1",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nx\r\n0\r\n\r\n",
    "streamed",
  ],
  [
    "a chunk size of -1",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n",
    "streamed",
  ],
  [
    "an overflowing chunk size",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n0\r\n\r\n",
    "streamed",
  ],
  [
    "a chunk extension (valid)",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=1\r\nx\r\n0\r\n\r\n",
    "rechunked",
  ],
  [
    "Connection naming the headers the proxy sets",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For, X-Real-IP\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
  ],
  ["an encoded NUL in the path", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["an encoded slash climbing above the root", "GET /a/..%2f..%2fetc HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a backslash in the path", "GET /a\\..\\b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a fragment in the target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a request line with two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a lower-case protocol name", "GET / http/1.1\r\nHost: a\r\n\r\n"],
  ["HTTP/1.1 with a leading zero", "GET / HTTP/01.1\r\nHost: a\r\n\r\n"],
];

function statusLine(reply: Buffer): string {
  const text = reply.toString("latin1");
  return text === "" ? "(closed without a response)" : text.slice(0, text.indexOf("\r\n"));
}

/** The heads the backend recorded since `from`, with the proxy-dependent parts blanked. */
function headsSince(backend: RecordingBackend, from: number): string[] {
  return backend.heads.slice(from).map((head) => head.replace(/\r\nX-Real-IP: [^\r]*/i, "\r\nX-Real-IP: ADDR"));
}

describe("differential: hostile requests reach the backend as under nginx", { skip }, () => {
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

  for (const [name, bytes, kind] of CASES) {
    test(name, async () => {
      const atNginx = backend.heads.length;
      const nginxReply = statusLine(await exchange(peers.nginx!.port, bytes, hasWholeResponse));
      const nginxHeads = headsSince(backend, atNginx);
      const atWsgate = backend.heads.length;
      const wsgateReply = statusLine(await exchange(peers.wsgate!.port, bytes, hasWholeResponse));
      const wsgateHeads = headsSince(backend, atWsgate);
      assert.equal(wsgateReply, nginxReply);
      if (kind === "streamed") assert.ok(wsgateHeads.length <= 1);
      else if (kind === "rechunked") assert.equal(wsgateHeads.length, nginxHeads.length);
      else assert.deepEqual(wsgateHeads, nginxHeads);
    });
  }

  test("CR LF decoded into $uri: nginx writes it into the header, wsgate never puts it on the wire", async () => {
    const bytes = "GET /a%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: a\r\n\r\n";
    const atNginx = backend.heads.length;
    await exchange(peers.nginx!.port, bytes, hasWholeResponse);
    const [nginxHead] = headsSince(backend, atNginx);
    assert.match(nginxHead!, /\r\nX-Uri: \/a\r\nX-Injected: 1\r\n/, "nginx's header injection, for the record");
    const atWsgate = backend.heads.length;
    await exchange(peers.wsgate!.port, bytes, hasWholeResponse);
    const [wsgateHead] = headsSince(backend, atWsgate);
    assert.match(wsgateHead!, /\r\nX-Uri: \/a {2}X-Injected: 1\r\n/);
    assert.doesNotMatch(wsgateHead!, /\r\nX-Injected/);
  });

  test("HTTP/0.9: nginx answers with a bare body, wsgate refuses it with 400 (a documented difference)", async () => {
    const bytes = "GET /\r\n\r\n";
    assert.equal(statusLine(await exchange(peers.nginx!.port, bytes, hasWholeResponse)), "path=/");
    assert.equal(statusLine(await exchange(peers.wsgate!.port, bytes, hasWholeResponse)), "HTTP/1.1 400 Bad Request");
  });

  test("after all of that, both still serve", async () => {
    for (const peer of [peers.nginx!, peers.wsgate!]) {
      const reply = statusLine(await exchange(peer.port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
      assert.equal(reply, "HTTP/1.1 200 OK");
    }
  });
});

describe("differential: nginx's header buffers, replayed to the byte", { skip }, () => {
  // Small buffers so that boundaries fall inside lines, on line ends and between CR and LF.
  const conf = (backend: number): string => `
    server {
      listen PORT;
      client_header_buffer_size 80;
      large_client_header_buffers 3 512;
      location / { proxy_pass http://127.0.0.1:${backend}; }
    }`;
  let backend: RecordingBackend;
  const peers = peersWith(
    async () => {
      backend = await startRecordingBackend();
      return conf(backend.port);
    },
    async () => {
      await backend?.close();
    },
  );

  test("heads of many shapes get the same status from both", async () => {
    const differences: string[] = [];
    const seen = new Set<string>();
    for (const lineLength of [20, 61, 100, 255, 256, 300, 510, 511, 512, 513]) {
      for (let count = 1; count <= 8; count++) {
        const header = (i: number): string => {
          const name = `X-${i}: `;
          return name + "v".repeat(Math.max(0, lineLength - name.length - 2)) + "\r\n";
        };
        const bytes = `GET /p HTTP/1.1\r\nHost: a\r\n${headerLines(count, header)}\r\n`;
        const nginx = statusLine(await exchange(peers.nginx!.port, bytes, hasWholeResponse));
        const wsgate = statusLine(await exchange(peers.wsgate!.port, bytes, hasWholeResponse));
        if (nginx !== wsgate) differences.push(`${count} lines of ${lineLength}: nginx ${nginx}, wsgate ${wsgate}`);
        seen.add(nginx);
      }
    }
    assert.deepEqual(differences, []);
    assert.ok(seen.has("HTTP/1.1 200 OK") && seen.has("HTTP/1.1 400 Bad Request"), [...seen].join(", "));
  });
});
