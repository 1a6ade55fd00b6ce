/**
 * The request head sent upstream, built from a loaded configuration and a
 * parsed client request: header order (proxy_set_header lines, then nginx's
 * defaults, then the client's headers), what is dropped, and the URI
 * (expected values as nginx 1.22 sent them to a recording backend).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { LocationConf, ProxyPass, ServerConf } from "../../src/config/model.js";
import { parseRequestHead } from "../../src/http/request-head.js";
import { requestFacts } from "../../src/http/request-headers.js";
import { parseTarget } from "../../src/http/uri.js";
import { findLocation } from "../../src/http/find-location.js";
import { HttpRequest, type ConnectionInfo } from "../../src/http/request.js";
import { buildUpstreamHead, proxyPortOf, upstreamUri, type UpstreamBody } from "../../src/proxy/upstream-request.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { recordMatch } from "../../src/vars/captures.js";

const CONF = `
events {}
http {
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    upstream backend { server 127.0.0.1:9002; }
    server {
        listen 127.0.0.1:8080;
        location / { proxy_pass http://127.0.0.1:9001; }
        location /seed/ {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
        location /set/ {
            proxy_pass http://127.0.0.1:9001;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Accept-Encoding "";
            proxy_set_header X-Empty $http_x_none;
            proxy_set_header X-Uri $uri;
            proxy_set_header host $host:8080;
        }
        location /uri/ { proxy_pass http://127.0.0.1:9001/base/; }
        location = /exact { proxy_pass http://127.0.0.1:9001/other; }
        location ~ ^/rx/ { proxy_pass http://127.0.0.1:9001; }
        location /bare/ { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:9001; }
        location /const/ {
            proxy_pass http://127.0.0.1:9001;
            proxy_http_version 1.1;
            proxy_set_header X-A "one";
            proxy_set_header X-B $uri;
            proxy_set_header X-C two;
            proxy_set_header X-D "";
        }
    }
}
`;

let root: string;
let server: ServerConf;

before(async () => {
  root = makeTempDir("upstream-request");
  writeTree(root, { "conf/nginx.conf": CONF, "logs/.keep": "" });
  const config = await loadConfig({ prefix: root, confFile: join(root, "conf/nginx.conf") });
  server = config.http!.servers[0]!;
});

after(() => {
  removeTempDir(root);
});

const CONNECTION: ConnectionInfo = {
  startMs: 0,
  id: 1,
  remoteAddress: "192.0.2.7",
  remotePort: 40000,
  localAddress: "127.0.0.1",
  localPort: 8080,
  bytesWritten: () => 0,
  requests: 1,
  bodyBytesRead: 0,
};

/** The client's raw head through wsgate's own parsing, to an HttpRequest and its location. */
function request(raw: string): { r: HttpRequest; location: LocationConf } {
  const parsed = parseRequestHead(Buffer.from(raw, "latin1"), server.srv);
  assert.equal(parsed.kind, "head", JSON.stringify(parsed));
  const head = (parsed as Extract<typeof parsed, { kind: "head" }>).head;
  const facts = requestFacts(head);
  assert.ok("ok" in facts, JSON.stringify(facts));
  const target = parseTarget(head.target, true);
  assert.ok(target, "a valid target");
  const match = findLocation(server.locations, target.path);
  assert.ok(match?.location.proxyPass, `a proxied location for ${target.path}`);
  const r = new HttpRequest(
    CONNECTION,
    head,
    facts.ok,
    target.path,
    target.args,
    target.unparsed,
    server,
    match.location,
    Date.now(),
  );
  if (match.match) recordMatch(r, match.match);
  return { r, location: match.location };
}

function upstreamHead(raw: string, body: UpstreamBody = { kind: "none" }): string {
  const { r, location } = request(raw);
  return buildUpstreamHead(r, location.proxyPass!, location, body);
}

function uriFor(target: string): string {
  const { r, location } = request(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`);
  return upstreamUri(r, location.proxyPass!, location);
}

describe("buildUpstreamHead: nginx's defaults", () => {
  test("HTTP/1.0, Host $proxy_host then Connection: close, then the client's headers minus hop-by-hop ones", () => {
    const head = upstreamHead(
      "GET /plain?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: raw/1\r\nKeep-Alive: timeout=9\r\n" +
        "Connection: keep-alive, TE\r\nTE: trailers\r\nUpgrade: websocket\r\nExpect: 100-continue\r\nX-Custom: a\r\n" +
        "X-Forwarded-For: 10.0.0.1\r\n\r\n",
    );
    assert.equal(
      head,
      "GET /plain?q=1 HTTP/1.0\r\nHost: 127.0.0.1:9001\r\nConnection: close\r\nUser-Agent: raw/1\r\n" +
        "X-Custom: a\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    );
  });

  test("a body's framing follows Connection; the client's own length header is not passed twice", () => {
    const raw = "POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n";
    assert.equal(
      upstreamHead(raw, { kind: "length", length: 5 }),
      "POST /post HTTP/1.0\r\nHost: 127.0.0.1:9001\r\nConnection: close\r\nContent-Length: 5\r\n" +
        "Content-Type: text/plain\r\n\r\n",
    );
    const chunked = "POST /post HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert.equal(
      upstreamHead(chunked, { kind: "chunked" }),
      "POST /post HTTP/1.0\r\nHost: 127.0.0.1:9001\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
  });

  test("duplicates and the client's name case are kept", () => {
    const head = upstreamHead("GET / HTTP/1.1\r\nHost: h\r\nx-a: 1\r\nX-A: 2\r\n\r\n");
    assert.ok(head.endsWith("Connection: close\r\nx-a: 1\r\nX-A: 2\r\n\r\n"), head);
  });

  test("proxy_pass_request_headers off: only the plan's headers", () => {
    assert.equal(
      upstreamHead("GET /bare/x HTTP/1.1\r\nHost: h\r\nX-Custom: a\r\n\r\n"),
      "GET /bare/x HTTP/1.0\r\nHost: 127.0.0.1:9001\r\nConnection: close\r\n\r\n",
    );
  });
});

describe("buildUpstreamHead: proxy_set_header", () => {
  test("the seed with Upgrade: Upgrade, Connection: upgrade, then Host (the upstream's name)", () => {
    const head = upstreamHead(
      "GET /seed/ws?x=1 HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.test\r\n\r\n",
    );
    assert.equal(
      head,
      "GET /seed/ws?x=1 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nHost: backend\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.test\r\n\r\n",
    );
  });

  test("the seed without Upgrade: the empty Upgrade is not sent, Connection: close comes first", () => {
    assert.equal(
      upstreamHead("GET /seed/plain HTTP/1.0\r\nHost: h\r\n\r\n"),
      "GET /seed/plain HTTP/1.1\r\nConnection: close\r\nHost: backend\r\n\r\n",
    );
  });

  test("set headers in order; empty values dropped; client headers they name are not passed; no default Host", () => {
    const head = upstreamHead(
      "GET /set/a HTTP/1.1\r\nHost: Example.Test\r\nAccept-Encoding: gzip\r\nX-Forwarded-For: 10.0.0.1\r\n" +
        "X-Uri: spoofed\r\nX-Other: o\r\n\r\n",
    );
    assert.equal(
      head,
      "GET /set/a HTTP/1.0\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nX-Uri: /set/a\r\nhost: example.test:8080\r\n" +
        "Connection: close\r\nX-Other: o\r\n\r\n",
    );
  });

  test("constant values between variable ones keep their order; an empty constant is not sent; names match in any case", () => {
    const raw =
      "GET /const/a HTTP/1.1\r\nHost: h\r\nx-A: spoof\r\nX-d: spoof\r\nKEEP-ALIVE: 1\r\nconnection: keep-alive\r\n" +
      "X-Other: o\r\n\r\n";
    assert.equal(
      upstreamHead(raw),
      "GET /const/a HTTP/1.1\r\nX-A: one\r\nX-B: /const/a\r\nX-C: two\r\nHost: 127.0.0.1:9001\r\n" +
        "Connection: close\r\nX-Other: o\r\n\r\n",
    );
    // The second request through the same location's compiled head gives its own values.
    assert.equal(
      upstreamHead("POST /const/b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n", { kind: "length", length: 2 }),
      "POST /const/b HTTP/1.1\r\nX-A: one\r\nX-B: /const/b\r\nX-C: two\r\nHost: 127.0.0.1:9001\r\n" +
        "Connection: close\r\nContent-Length: 2\r\n\r\n",
    );
  });

  test("CR and LF from a variable never reach the wire", () => {
    const head = upstreamHead("GET /set/a%0d%0aInjected:%20yes%0a HTTP/1.1\r\nHost: h\r\n\r\n");
    const lines = head.split("\r\n");
    assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(head), "no bare CR or LF");
    assert.ok(!lines.some((line) => line.startsWith("Injected")), head);
    assert.ok(lines.includes("X-Uri: /set/a  Injected: yes "), head);
  });
});

describe("upstreamUri", () => {
  test("proxy_pass without a URI: the client's target as sent", () => {
    assert.equal(uriFor("/x/../y%20z?q=%41"), "/x/../y%20z?q=%41");
    assert.equal(uriFor("/rx/a%2Fb"), "/rx/a%2Fb");
  });

  test("with a URI: the location's prefix replaced in the normalised URI, args appended as sent", () => {
    assert.equal(uriFor("/uri/a%20b?q"), "/base/a%20b?q");
    assert.equal(uriFor("/uri/"), "/base/");
    assert.equal(uriFor("/uri/x/../y?a=%20"), "/base/y?a=%20");
    assert.equal(uriFor("/exact?k=v"), "/other?k=v");
  });

  test("escaped only when the client's path had an escape, as nginx (r->quoted_uri)", () => {
    assert.equal(uriFor("/uri/plain{x"), "/base/plain{x");
    assert.equal(uriFor("/uri/plain{x?a=%20"), "/base/plain{x?a=%20");
    assert.equal(uriFor("/uri/a%7Bb{c%22d%5Ce%27f'g%3C"), "/base/a%7Bb%7Bc%22d%5Ce'f'g%3C");
    assert.equal(uriFor("/uri/a%2Fb{"), "/base/a/b%7B");
  });
});

describe("proxyPortOf: $proxy_port as ngx_http_proxy_set_vars()", () => {
  const pass = (upstream: string, proxyHost: string, scheme: "http" | "https" = "http"): ProxyPass => ({
    scheme,
    upstream,
    proxyHost,
    uri: undefined,
    url: "",
    place: { file: "x", line: 1 },
  });

  test("the port written, else the scheme's; empty for a unix-domain socket", () => {
    assert.equal(proxyPortOf(pass("b", "b")), "80");
    assert.equal(proxyPortOf(pass("b:8080", "b:8080")), "8080");
    assert.equal(proxyPortOf(pass("b", "b", "https")), "443");
    assert.equal(proxyPortOf(pass("[::1]:81", "[::1]:81")), "81");
    assert.equal(proxyPortOf(pass("[::1]", "[::1]")), "80");
    assert.equal(proxyPortOf(pass("unix:/tmp/s", "localhost")), "");
  });
});
