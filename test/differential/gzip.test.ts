/**
 * The gzip filter against nginx, one configuration under both: which
 * responses are compressed (proxied with a length or chunked, files, `return`
 * texts, nginx's error pages), which are not (short, of another type, already
 * encoded, other statuses, a client that refuses gzip or speaks HTTP/1.0, a
 * request through a proxy under each gzip_proxied rule, gzip_disable), the
 * heads word for word but Date and Server, the bodies decompressed to the
 * original, and $gzip_ratio in the access log; gzip_static's FILE.gz. A 101
 * and the tunnel after it pass untouched.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  comparableHead,
  comparableLog,
  skipWithoutNginx,
  startPeer,
  startScriptedBackend,
  type ScriptedBackend,
} from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { parseChunked } from "../support/backend.js";

const skip = skipWithoutNginx();

const PAGE = "<p>The same words, again and again, compress well.</p>\n".repeat(120);
const SHORT = "<p>hi</p>";

const response = (head: string, body: string): string =>
  `HTTP/1.1 ${head}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

const chunked = (head: string, pieces: readonly string[]): string =>
  `HTTP/1.1 ${head}\r\nTransfer-Encoding: chunked\r\n\r\n` +
  pieces.map((piece) => `${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`).join("") +
  "0\r\n\r\n";

const SCRIPTS: Record<string, string> = {
  "/p/len": response("200 OK\r\nContent-Type: text/html", PAGE),
  "/pz/empty": response("200 OK\r\nContent-Type: text/html", ""),
  "/pany/len": response("200 OK\r\nContent-Type: text/html", PAGE),
  "/p/chunked": chunked("200 OK\r\nContent-Type: text/html", [
    PAGE.slice(0, 1000),
    PAGE.slice(1000, 4000),
    PAGE.slice(4000),
  ]),
  "/p/short": response("200 OK\r\nContent-Type: text/html", SHORT),
  "/p/json": response("200 OK\r\nContent-Type: application/json", `{"a":"${"x".repeat(300)}"}`),
  "/p/css": response("200 OK\r\nContent-Type: text/css", PAGE),
  "/p/encoded": response("200 OK\r\nContent-Type: text/html\r\nContent-Encoding: br", PAGE),
  "/p/etag": response('200 OK\r\nContent-Type: text/html\r\nETag: "abc"\r\nAccept-Ranges: bytes', PAGE),
  "/p/charset": response("200 OK\r\nContent-Type: text/html; charset=utf-8", PAGE),
  "/p/param": response("200 OK\r\nContent-Type: text/html; level=1", PAGE),
  "/p/500": response("500 Internal Server Error\r\nContent-Type: text/html", PAGE),
  "/p/403": response("403 Forbidden\r\nContent-Type: text/html", PAGE),
  "/px/expired": response("200 OK\r\nContent-Type: text/html\r\nExpires: Thu, 01 Jan 1970 00:00:01 GMT", PAGE),
  "/px/future": response("200 OK\r\nContent-Type: text/html\r\nExpires: Thu, 01 Jan 2099 00:00:01 GMT", PAGE),
  "/px/private": response("200 OK\r\nContent-Type: text/html\r\nCache-Control: max-age=5, private", PAGE),
  "/px/public": response("200 OK\r\nContent-Type: text/html\r\nCache-Control: public", PAGE),
  "/px/plain": response("200 OK\r\nContent-Type: text/html", PAGE),
  "/pn/lm": response("200 OK\r\nContent-Type: text/html\r\nLast-Modified: Thu, 01 Jan 2015 00:00:01 GMT", PAGE),
  "/pn/etag": response('200 OK\r\nContent-Type: text/html\r\nETag: "e"', PAGE),
  "/pn/plain": response("200 OK\r\nContent-Type: text/html", PAGE),
  "/ws":
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\ntunnel bytes, as they were",
};

const HTTP = (backend: number, root: string): string => `
  log_format gz '$request_uri $status "$gzip_ratio"';
  server {
    listen PORT;
    server_tokens off;
    access_log logs/gz.log gz;
    gzip on;
    gzip_vary on;
    gzip_types application/json;
    root ${root};
    location /p/ { proxy_pass http://127.0.0.1:${backend}; }
    location /pany/ { gzip_proxied any; proxy_pass http://127.0.0.1:${backend}; }
    location /px/ { gzip_proxied expired private; proxy_pass http://127.0.0.1:${backend}; }
    location /pn/ { gzip_proxied no_last_modified no_etag; proxy_pass http://127.0.0.1:${backend}; }
    location /static/ { }
    location /pz/ { gzip_min_length 0; proxy_pass http://127.0.0.1:${backend}; }
    location /z/ { gzip_min_length 0; }
    location /gs/ { gzip off; gzip_static on; }
    location /gsa/ { alias ${root}/gs/; gzip_static always; }
    location = /ret { default_type text/html; return 200 "${"return text, long enough to be compressed. ".repeat(4)}"; }
    location = /missing { return 404; }
    location /ua/ {
      gzip_disable "curl/\\d" msie6;
      default_type text/html;
      return 200 "${"agent-dependent text. ".repeat(5)}";
    }
    location /v10 { gzip_http_version 1.0; default_type text/html; return 200 "${"version text. ".repeat(5)}"; }
    location /ws {
      proxy_pass http://127.0.0.1:${backend};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection upgrade;
    }
  }`;

const get = (path: string, headers = "Accept-Encoding: gzip\r\n", method = "GET", version = "1.1"): string =>
  `${method} ${path} HTTP/${version}\r\nHost: a\r\n${headers}Connection: close\r\n\r\n`;

const VIA = "Accept-Encoding: gzip\r\nVia: 1.1 cache\r\n";
const MSIE6 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";

const REQUESTS: ReadonlyArray<readonly [string, string]> = [
  ["proxied with a length", get("/p/len")],
  ["no Accept-Encoding", get("/p/len", "")],
  ["gzip refused with q=0", get("/p/len", "Accept-Encoding: gzip;q=0\r\n")],
  ["gzip with a q among others", get("/p/len", "Accept-Encoding: deflate, GZIP;q=0.5\r\n")],
  ["gzip as part of another word", get("/p/len", "Accept-Encoding: xgzip, deflate\r\n")],
  ["proxied chunked", get("/p/chunked")],
  ["shorter than gzip_min_length", get("/p/short")],
  ["a type of gzip_types", get("/p/json")],
  ["a type not in gzip_types", get("/p/css")],
  ["already encoded", get("/p/encoded")],
  ["strong ETag, Accept-Ranges", get("/p/etag")],
  ["charset parameter", get("/p/charset")],
  ["other parameter", get("/p/param")],
  ["status 500", get("/p/500")],
  ["status 403", get("/p/403")],
  ["HEAD", get("/p/len", undefined, "HEAD")],
  ["HTTP/1.0", get("/p/len", undefined, "GET", "1.0")],
  ["HTTP/1.0 with gzip_http_version 1.0", get("/v10", undefined, "GET", "1.0")],
  ["Via, gzip_proxied off", get("/p/len", VIA)],
  ["Via, gzip_proxied any", get("/pany/len", VIA)],
  ["Via, expired in the past", get("/px/expired", VIA)],
  ["Via, expires in the future", get("/px/future", VIA)],
  ["Via, Cache-Control private", get("/px/private", VIA)],
  ["Via, Cache-Control public", get("/px/public", VIA)],
  ["Via, neither", get("/px/plain", VIA)],
  ["Via, no_last_modified with Last-Modified", get("/pn/lm", VIA)],
  ["Via, no_etag with ETag", get("/pn/etag", VIA)],
  ["Via, no_last_modified without", get("/pn/plain", VIA)],
  ["a file", get("/static/page.html")],
  ["an empty proxied body, gzip_min_length 0", get("/pz/empty")],
  ["an empty file, gzip_min_length 0", get("/z/empty.html")],
  ["a file, ranges asked", get("/static/page.html", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n")],
  ["a short file, ranges asked", get("/static/short.html", "Accept-Encoding: gzip\r\nRange: bytes=0-3\r\n")],
  ["a file, HEAD", get("/static/page.html", undefined, "HEAD")],
  ["a file, not accepted", get("/static/page.html", "")],
  ["gzip_static, accepted", get("/gs/page.html")],
  ["gzip_static, ranges asked", get("/gs/page.html", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n")],
  ["gzip_static, HEAD", get("/gs/page.html", undefined, "HEAD")],
  ["gzip_static, not accepted", get("/gs/page.html", "")],
  ["gzip_static, not accepted, another type", get("/gs/style.css", "")],
  ["gzip_static, no .gz", get("/gs/plain.html")],
  ["gzip_static always, not accepted", get("/gsa/page.html", "")],
  ["a return text", get("/ret")],
  ["an error page", get("/missing")],
  ["a disabled agent", get("/ua/x", "Accept-Encoding: gzip\r\nUser-Agent: curl/8.5.0\r\n")],
  ["MSIE 6 without SV1", get("/ua/x", `Accept-Encoding: gzip\r\nUser-Agent: ${MSIE6}\r\n`)],
  ["MSIE 6 with SV1", get("/ua/x", "Accept-Encoding: gzip\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; SV1)\r\n")],
];

/** The head without Date and Server, and the body as the client reads it: de-chunked, then gunzipped. */
function readReply(reply: Buffer): { head: string[]; body: string } {
  const text = reply.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  const head = comparableHead(reply);
  let body = reply.subarray(end + 4);
  if (/^transfer-encoding: chunked$/im.test(text.slice(0, end))) body = dechunked(body);
  // A range of a FILE.gz is a piece of gzip data, compared as it is.
  const whole = !text.startsWith("HTTP/1.1 206");
  if (/^content-encoding: gzip$/im.test(text.slice(0, end)) && body.length > 0 && whole) body = gunzipSync(body);
  return { head, body: body.toString("latin1") };
}

describe("differential: gzip", { skip }, () => {
  let backend: ScriptedBackend;
  let root: string;
  before(async () => {
    backend = await startScriptedBackend(SCRIPTS);
    root = mkdtempSync(join(tmpdir(), "wsgate-gzip-root-"));
    mkdirSync(join(root, "static"));
    writeFileSync(join(root, "static", "page.html"), PAGE);
    writeFileSync(join(root, "static", "short.html"), SHORT);
    mkdirSync(join(root, "z"));
    writeFileSync(join(root, "z", "empty.html"), "");
    mkdirSync(join(root, "gs"));
    writeFileSync(join(root, "gs", "page.html"), "the uncompressed file, not sent when the .gz is");
    writeFileSync(join(root, "gs", "page.html.gz"), gzipSync(PAGE));
    writeFileSync(join(root, "gs", "style.css"), "b { }");
    writeFileSync(join(root, "gs", "style.css.gz"), gzipSync("b { }"));
    writeFileSync(join(root, "gs", "plain.html"), PAGE);
  });
  after(async () => {
    await backend?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test("the same responses compressed, the same heads, the bodies intact, the same $gzip_ratio", async () => {
    const seen: Record<string, { replies: Array<{ head: string[]; body: string }>; log: string[] }> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(name, HTTP(backend.port, root));
      try {
        const replies = [];
        for (const [, request] of REQUESTS) replies.push(readReply(await exchange(peer.port, request)));
        await linesEventually(() => peer.readLog("gz.log"), REQUESTS.length);
        seen[name] = { replies, log: comparableLog(peer.readLog("gz.log")) };
      } finally {
        await peer.stop();
      }
    }
    const nginx = seen.nginx!;
    const wsgate = seen.wsgate!;
    REQUESTS.forEach(([what], i) => {
      assert.deepEqual(wsgate.replies[i]!.head, nginx.replies[i]!.head, what);
      // An error page names the server: wsgate's own name where nginx writes its.
      assert.equal(wsgate.replies[i]!.body.replace(">wsgate<", ">nginx<"), nginx.replies[i]!.body, what);
    });
    // What nginx itself did, so the comparison cannot pass on two identical mistakes.
    const encoded = (i: number): boolean => nginx.replies[i]!.head.includes("Content-Encoding: gzip");
    assert.deepEqual(
      REQUESTS.map(([what], i) => `${what}: ${encoded(i) ? "gzip" : "-"}`).filter((line) => line.endsWith("gzip")),
      [
        "proxied with a length: gzip",
        "gzip with a q among others: gzip",
        "proxied chunked: gzip",
        "a type of gzip_types: gzip",
        "strong ETag, Accept-Ranges: gzip",
        "charset parameter: gzip",
        "status 403: gzip",
        "HEAD: gzip",
        "HTTP/1.0 with gzip_http_version 1.0: gzip",
        "Via, gzip_proxied any: gzip",
        "Via, expired in the past: gzip",
        "Via, Cache-Control private: gzip",
        "Via, neither: gzip",
        "Via, no_last_modified without: gzip",
        "a file: gzip",
        "an empty proxied body, gzip_min_length 0: gzip",
        "an empty file, gzip_min_length 0: gzip",
        "a file, ranges asked: gzip",
        "a file, HEAD: gzip",
        "gzip_static, accepted: gzip",
        "gzip_static, ranges asked: gzip",
        "gzip_static, HEAD: gzip",
        "gzip_static always, not accepted: gzip",
        "a return text: gzip",
        "an error page: gzip",
        "MSIE 6 with SV1: gzip",
      ],
    );
    assert.equal(nginx.replies[0]!.body, PAGE);
    // $gzip_ratio: "-" where nothing was compressed; the ratio's form where something was (the value itself
    // follows the zlib build: Node's and Debian's agree on most of these bodies, not on every one).
    assert.deepEqual(
      wsgate.log.map((line) => line.replace(/"\d+\.\d\d"$/, '"N.NN"')),
      nginx.log.map((line) => line.replace(/"\d+\.\d\d"$/, '"N.NN"')),
    );
  });

  test("a 101 and the tunnel after it are not touched", async () => {
    const request =
      "GET /ws HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    const seen: Record<string, string> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(name, HTTP(backend.port, root));
      try {
        const reply = await exchange(peer.port, request);
        const text = reply.toString("latin1");
        seen[name] = comparableHead(reply).join("\n") + "\n\n" + text.slice(text.indexOf("\r\n\r\n") + 4);
      } finally {
        await peer.stop();
      }
    }
    assert.match(seen.nginx!, /^HTTP\/1.1 101 Switching Protocols\n/);
    assert.ok(seen.nginx!.endsWith("\n\ntunnel bytes, as they were"), seen.nginx);
    assert.equal(seen.wsgate, seen.nginx);
  });
});

/** The data of a chunked body (all of it must be there). */
function dechunked(data: Buffer): Buffer {
  const parsed = parseChunked(data, 0);
  assert.ok(parsed, "a whole chunked body");
  return parsed.body;
}
