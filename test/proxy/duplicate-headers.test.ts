/**
 * A single-valued header an upstream repeats, as nginx 1.23+ handles it
 * (ngx_http_upstream_process_header_line() and the handlers of Last-Modified,
 * Expires, X-Accel-Expires, X-Accel-Limit-Rate): the first line is kept, each
 * later one is left out with a [warn] "upstream sent duplicate header line:
 * …, ignored"; headers nginx lets repeat (Set-Cookie, Cache-Control, Vary,
 * Link, X-Accel-Buffering, unknown ones) all pass without a word. Debian's
 * nginx 1.22 predates the check (it passes every line), so this is held to
 * 1.28's source, not compared with it.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { parseResponseHead } from "../../src/proxy/response-head.js";
import { startPeer, startScriptedBackend, type Peer, type ScriptedBackend } from "../differential/peers.js";
import { exchange } from "../support/sockets.js";
import { until } from "../support/wait.js";

const HEAD = [
  "HTTP/1.1 302 Found",
  "Location: /first",
  "location: /second",
  'ETag: "a"',
  'ETag: "b"',
  "Expires: Thu, 01 Jan 2037 00:00:00 GMT",
  "Expires: Fri, 02 Jan 2037 00:00:00 GMT",
  "Last-Modified: Thu, 01 Jan 2015 00:00:00 GMT",
  "Last-Modified: Fri, 02 Jan 2015 00:00:00 GMT",
  "Content-Type: text/plain",
  "Content-Type: text/html",
  "Refresh: 5; url=/a",
  "Refresh: 6; url=/b",
  "Date: Thu, 01 Jan 2015 00:00:00 GMT",
  "Date: Fri, 02 Jan 2015 00:00:00 GMT",
  "X-Accel-Expires: 10",
  "X-Accel-Expires: 20",
  "Set-Cookie: a=1",
  "Set-Cookie: b=2",
  "Cache-Control: no-store",
  "Cache-Control: private",
  "Vary: Accept",
  "Vary: Origin",
  "Link: </a>; rel=preload",
  "Link: </b>; rel=preload",
  "X-Accel-Buffering: no",
  "X-Accel-Buffering: yes",
  "X-Other: 1",
  "X-Other: 2",
  "Content-Length: 0",
].join("\r\n");

const WARNINGS = [
  `"location: /second", previous value: "Location: /first"`,
  `"ETag: "b"", previous value: "ETag: "a""`,
  `"Expires: Fri, 02 Jan 2037 00:00:00 GMT", previous value: "Expires: Thu, 01 Jan 2037 00:00:00 GMT"`,
  `"Last-Modified: Fri, 02 Jan 2015 00:00:00 GMT", previous value: "Last-Modified: Thu, 01 Jan 2015 00:00:00 GMT"`,
  `"Content-Type: text/html", previous value: "Content-Type: text/plain"`,
  `"Refresh: 6; url=/b", previous value: "Refresh: 5; url=/a"`,
  `"Date: Fri, 02 Jan 2015 00:00:00 GMT", previous value: "Date: Thu, 01 Jan 2015 00:00:00 GMT"`,
  `"X-Accel-Expires: 20", previous value: "X-Accel-Expires: 10"`,
].map((pair) => `upstream sent duplicate header line: ${pair}, ignored`);

describe("parseResponseHead: repeated single-valued headers", () => {
  test("the first line of each is kept, the others named in nginx's warning", () => {
    const parsed = parseResponseHead(Buffer.from(HEAD + "\r\n\r\n", "latin1"), 65536);
    assert.equal(parsed.kind, "head");
    if (parsed.kind !== "head") return;
    assert.deepEqual(parsed.head.duplicates, WARNINGS);
    const names = parsed.head.headers.map(([name]) => name.toLowerCase());
    for (const single of ["location", "etag", "expires", "last-modified", "content-type", "refresh", "date"])
      assert.equal(names.filter((name) => name === single).length, 1, single);
    for (const multi of ["set-cookie", "cache-control", "vary", "link", "x-accel-buffering", "x-other"])
      assert.equal(names.filter((name) => name === multi).length, 2, multi);
    assert.deepEqual(
      parsed.head.headers.find(([name]) => name === "Location"),
      ["Location", "/first"],
    );
  });

  test("warnings for the lines before a refused one are kept with the refusal", () => {
    const text = "HTTP/1.1 200 OK\r\nETag: a\r\nETag: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    const parsed = parseResponseHead(Buffer.from(text, "latin1"), 4096);
    assert.equal(parsed.kind, "error");
    if (parsed.kind !== "error") return;
    assert.equal(
      parsed.reason,
      `upstream sent duplicate header line: "Content-Length: 2", previous value: "Content-Length: 1"`,
    );
    assert.deepEqual(parsed.duplicates, [
      `upstream sent duplicate header line: "ETag: b", previous value: "ETag: a", ignored`,
    ]);
  });
});

describe("parseResponseHead: a head too big, after the lines that fit", () => {
  const over = (lines: string): Buffer =>
    Buffer.from(`HTTP/1.1 200 OK\r\n${lines}X-Fill: ${"a".repeat(200)}\r\n\r\n`, "latin1");

  test("the warnings for the lines within proxy_buffer_size come with the refusal", () => {
    const parsed = parseResponseHead(over("ETag: a\r\nETag: b\r\n"), 100);
    assert.deepEqual(parsed, {
      kind: "error",
      reason: "upstream sent too big header",
      duplicates: [`upstream sent duplicate header line: "ETag: b", previous value: "ETag: a", ignored`],
    });
  });

  test("a line within it that nginx refuses is reported rather than the size", () => {
    const parsed = parseResponseHead(over("Content-Length: 1\r\nContent-Length: 1\r\n"), 100);
    assert.equal(parsed.kind, "error");
    if (parsed.kind === "error")
      assert.equal(
        parsed.reason,
        `upstream sent duplicate header line: "Content-Length: 1", previous value: "Content-Length: 1"`,
      );
  });

  test("a line cut by the end of the buffer is not looked at", () => {
    const parsed = parseResponseHead(over("ETag: a\r\nETag: b\r\n"), 30);
    assert.deepEqual(parsed, { kind: "error", reason: "upstream sent too big header", duplicates: [] });
  });
});

describe("a proxied response with repeated single-valued headers", () => {
  let backend: ScriptedBackend;
  let peer: Peer;
  before(async () => {
    backend = await startScriptedBackend({ "/dup": HEAD + "\r\n\r\n" });
    peer = await startPeer(
      "wsgate",
      `server { listen PORT; location / { proxy_pass http://127.0.0.1:${backend.port}; } }`,
    );
  });
  after(async () => {
    await peer?.stop();
    await backend?.close();
  });

  test("the client gets the first line of each; the error log warns of each other", async () => {
    const reply = await exchange(peer.port, "GET /dup HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    const head = reply.toString("latin1").split("\r\n\r\n")[0]!;
    const lines = head.split("\r\n").slice(1);
    const count = (name: string): number => lines.filter((line) => line.toLowerCase().startsWith(name + ":")).length;
    assert.equal(head.split("\r\n")[0], "HTTP/1.1 302 Found");
    for (const single of ["location", "etag", "expires", "last-modified", "content-type", "refresh", "date"])
      assert.equal(count(single), 1, single);
    assert.equal(count("x-accel-expires"), 0);
    for (const multi of ["set-cookie", "cache-control", "vary", "link", "x-other"])
      assert.equal(count(multi), 2, multi);
    assert.match(head, /\r\nLocation: [^\r]*\/first\r\n/);
    assert.match(head, /\r\nETag: "a"\r\n/);
    assert.match(head, /\r\nContent-Type: text\/plain\r\n/);
    assert.doesNotMatch(head, /second|"b"|text\/html|url=\/b|2037 00:00:00 GMT\r\nExpires/);

    await until(() => peer.errorLog().includes("X-Accel-Expires: 20"), 3000, "the warnings");
    const warned = peer
      .errorLog()
      .split("\n")
      .filter((line) => line.includes("duplicate header line"));
    assert.deepEqual(
      warned.map((line) => line.replace(/^.* \[warn\] \d+#\d+: \*\d+ /, "").replace(/ while .*$/, "")),
      WARNINGS,
    );
    assert.match(
      warned[0]!,
      new RegExp(
        ` \\[warn\\] \\d+#\\d+: \\*\\d+ upstream sent duplicate header line: "location: /second", previous value: ` +
          `"Location: /first", ignored while reading response header from upstream, client: 127\\.0\\.0\\.1, ` +
          `server: , request: "GET /dup HTTP/1\\.1", upstream: "http://127\\.0\\.0\\.1:${backend.port}/dup", host: "a"$`,
      ),
    );
  });
});
