/**
 * examples/multi-site/nginx.conf, the shipped file, under Debian's nginx and
 * under wsgate: each started from the same text with only the ports changed
 * (run-example.ts proves it), behind the same four recording backends (two
 * for the API, two WebSocket echo servers). For every raw request of the
 * table below, the reply (status line, headers, body) and what the backends
 * received must be the same; then the access-log lines.
 *
 * Normalised, because they must differ: the Date and Server headers, the
 * server token of nginx's built-in error pages, the listening ports of each
 * run (in Location), and the figures of stub_status.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { comparableErrors, nginxPath, skipWithoutNginx } from "../differential/peers.js";
import { startBackend, type Backend, type Received } from "./backends.js";
import { EXAMPLE_DIR, FIXED_MTIME, exampleConf, startExample, type ExamplePorts } from "./run-example.js";
import { send, webSocketSession } from "./wire.js";
import { freePort } from "../support/proxy.js";
import { until } from "../support/wait.js";

const skip = skipWithoutNginx();

function fileSize(path: string): number {
  return statSync(join(EXAMPLE_DIR, "html", path)).size;
}

/** nginx's ETag of a file of the example in a test prefix. */
function etagOf(path: string): string {
  return `"${FIXED_MTIME.toString(16)}-${fileSize(path).toString(16)}"`;
}

const LAST_MODIFIED = new Date(FIXED_MTIME * 1000).toUTCString();
const EARLIER = new Date((FIXED_MTIME - 86400) * 1000).toUTCString();

const H = "Host: example.com:8080\r\n";
const CLOSE = "Connection: close\r\n\r\n";
const KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
const upgrade = (target: string, extra = ""): string =>
  `GET ${target} HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${KEY}${extra}\r\n`;

type Port = "site" | "plain";
interface Case {
  readonly name: string;
  /** The status nginx answers (checked first, so that each row tests what its name says). */
  readonly status: number;
  readonly port: Port;
  readonly request: string;
  /** WebSocket messages to send once the handshake is through. */
  readonly messages?: readonly string[];
  /** Read until the server closes (several replies on one connection). */
  readonly toEnd?: boolean;
}

const http = (name: string, status: number, request: string, port: Port = "site", toEnd = false): Case => ({
  name,
  status,
  port,
  request,
  toEnd,
});
const ws = (name: string, status: number, request: string, messages: readonly string[]): Case => ({
  name,
  status,
  port: "site",
  request,
  messages,
});

const CASES: readonly Case[] = [
  // The static site.
  http("home page (index)", 200, `GET / HTTP/1.1\r\n${H}User-Agent: example-test/1\r\n${CLOSE}`),
  http("home page, HEAD", 200, `HEAD / HTTP/1.1\r\n${H}${CLOSE}`),
  http("home page, HTTP/1.0 without Host", 200, "GET / HTTP/1.0\r\n\r\n"),
  http("index.html by name", 200, `GET /index.html HTTP/1.1\r\n${H}${CLOSE}`),
  http("a file with arguments", 200, `GET /index.html?utm_source=mail HTTP/1.1\r\n${H}${CLOSE}`),
  http("CSS under /assets/ (Cache-Control, ETag)", 200, `GET /assets/site.css HTTP/1.1\r\n${H}${CLOSE}`),
  http("SVG image", 200, `GET /assets/logo.svg HTTP/1.1\r\n${H}${CLOSE}`),
  http("JSON file", 200, `GET /assets/data.json HTTP/1.1\r\n${H}Referer: http://example.com/\r\n${CLOSE}`),
  http(
    "If-None-Match with the ETag: 304",
    304,
    `GET /assets/site.css HTTP/1.1\r\n${H}If-None-Match: ${etagOf("assets/site.css")}\r\n${CLOSE}`,
  ),
  http(
    "If-None-Match with another ETag: 200",
    200,
    `GET /assets/site.css HTTP/1.1\r\n${H}If-None-Match: "0-0"\r\n${CLOSE}`,
  ),
  http(
    "If-Modified-Since, the same time: 304",
    304,
    `GET /assets/site.css HTTP/1.1\r\n${H}If-Modified-Since: ${LAST_MODIFIED}\r\n${CLOSE}`,
  ),
  http(
    "If-Modified-Since, earlier: 200",
    200,
    `GET /assets/site.css HTTP/1.1\r\n${H}If-Modified-Since: ${EARLIER}\r\n${CLOSE}`,
  ),
  http(
    "If-None-Match on a page outside /assets/",
    304,
    `GET /index.html HTTP/1.1\r\n${H}If-None-Match: ${etagOf("index.html")}\r\n${CLOSE}`,
  ),
  http("Range: the first 16 bytes", 206, `GET /assets/site.css HTTP/1.1\r\n${H}Range: bytes=0-15\r\n${CLOSE}`),
  http("Range: the last 5 bytes", 206, `GET /assets/data.json HTTP/1.1\r\n${H}Range: bytes=-5\r\n${CLOSE}`),
  http("Range: two parts (multipart)", 206, `GET /assets/site.css HTTP/1.1\r\n${H}Range: bytes=0-3,10-13\r\n${CLOSE}`),
  http("Range beyond the end: 416", 416, `GET /assets/site.css HTTP/1.1\r\n${H}Range: bytes=5000-6000\r\n${CLOSE}`),
  http("a missing asset: the 404 page", 404, `GET /assets/missing.css HTTP/1.1\r\n${H}${CLOSE}`),
  http("a missing page: the 404 page", 404, `GET /no/such/page HTTP/1.1\r\n${H}${CLOSE}`),
  http("the 404 page itself is internal", 404, `GET /404.html HTTP/1.1\r\n${H}${CLOSE}`),
  http("the 50x page is internal", 404, `GET /50x.html HTTP/1.1\r\n${H}${CLOSE}`),
  http("a directory without the slash: 301", 301, `GET /docs?x=1 HTTP/1.1\r\n${H}${CLOSE}`),
  http("a directory: its index", 200, `GET /docs/ HTTP/1.1\r\n${H}${CLOSE}`),
  http("POST to a static file: 405", 405, `POST /index.html HTTP/1.1\r\n${H}Content-Length: 3\r\n${CLOSE}abc`),
  http(
    "two files on one keep-alive connection",
    200,
    `GET /assets/site.css HTTP/1.1\r\n${H}\r\nGET /assets/data.json HTTP/1.1\r\n${H}${CLOSE}`,
    "site",
    true,
  ),
  http("HTTP/1.0 keep-alive", 200, `GET /assets/logo.svg HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`),
  // The single-page app.
  http("the app", 200, `GET /app/ HTTP/1.1\r\n${H}${CLOSE}`),
  http("the app's script", 200, `GET /app/app.js HTTP/1.1\r\n${H}${CLOSE}`),
  http("an app route: index.html (SPA fallback)", 200, `GET /app/settings/profile?tab=2 HTTP/1.1\r\n${H}${CLOSE}`),
  http("an app route, HEAD", 200, `HEAD /app/users/7 HTTP/1.1\r\n${H}${CLOSE}`),
  // Moved pages, health, status.
  http("/old/ moved into the app, with arguments", 301, `GET /old/settings?tab=2&x=%20y HTTP/1.1\r\n${H}${CLOSE}`),
  http("/old/ moved into the app, without arguments", 301, `GET /old/ HTTP/1.1\r\nHost: example.com\r\n${CLOSE}`),
  http("health check", 200, `GET /healthz HTTP/1.1\r\n${H}${CLOSE}`),
  http("health check, HEAD", 200, `HEAD /healthz HTTP/1.1\r\n${H}${CLOSE}`),
  http("stub_status (figures aside)", 200, `GET /nginx_status HTTP/1.1\r\n${H}${CLOSE}`),
  // The API.
  http("API GET with arguments", 200, `GET /api/users?page=2 HTTP/1.1\r\n${H}Accept: application/json\r\n${CLOSE}`),
  http("API root", 200, `GET /api/ HTTP/1.1\r\n${H}${CLOSE}`),
  http(
    "API POST with a JSON body",
    200,
    `POST /api/items HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 24\r\n${CLOSE}{"name":"cup","qty":12}\n`,
  ),
  http(
    "API PUT",
    200,
    `PUT /api/items/7 HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 5\r\n${CLOSE}hello`,
  ),
  http("API DELETE", 200, `DELETE /api/items/7 HTTP/1.1\r\n${H}${CLOSE}`),
  http("API HEAD", 200, `HEAD /api/items/7 HTTP/1.1\r\n${H}${CLOSE}`),
  http(
    "API with X-Forwarded-For from a proxy in front",
    200,
    `GET /api/me HTTP/1.1\r\n${H}X-Forwarded-For: 203.0.113.9\r\nX-Real-IP: 1.2.3.4\r\n${CLOSE}`,
  ),
  http("API, HTTP/1.0 without Host ($host is the server name)", 200, "GET /api/legacy HTTP/1.0\r\n\r\n"),
  http("API, an upper-case Host", 200, `GET /api/case HTTP/1.1\r\nHost: EXAMPLE.COM\r\n${CLOSE}`),
  http("API, the backend's 404 passed on", 404, `GET /api/missing/1 HTTP/1.1\r\n${H}${CLOSE}`),
  http(
    "API, two requests on one connection",
    200,
    `GET /api/first HTTP/1.1\r\n${H}\r\nGET /api/second HTTP/1.1\r\n${H}${CLOSE}`,
    "site",
    true,
  ),
  http(
    "API, a body over client_max_body_size: 413",
    413,
    `POST /api/upload HTTP/1.1\r\n${H}Content-Length: 2000000\r\n${CLOSE}`,
  ),
  {
    name: "API POST with a chunked body (read whole, sent with its length)",
    status: 200,
    port: "site",
    request: `POST /api/stream HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n${CLOSE.slice(0, -2)}\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
  },
  http("API, both backends fail: 502 and the 50x page", 502, `GET /api/crash HTTP/1.1\r\n${H}${CLOSE}`),
  http("API after the failures: the backends are still used", 200, `GET /api/again HTTP/1.1\r\n${H}${CLOSE}`),
  // The redirect servers.
  http("http → https", 301, `GET / HTTP/1.1\r\nHost: example.com\r\n${CLOSE}`, "plain"),
  http(
    "http → https, path and arguments kept",
    301,
    `GET /login?next=/app/&a=1 HTTP/1.1\r\nHost: www.example.com:8000\r\n${CLOSE}`,
    "plain",
  ),
  http("http → https, HTTP/1.0 without Host", 301, "GET /x HTTP/1.0\r\n\r\n", "plain"),
  http("http → https, HEAD", 301, `HEAD /a HTTP/1.1\r\nHost: example.com\r\n${CLOSE}`, "plain"),
  http("http → https, an unknown name", 301, `GET /a HTTP/1.1\r\nHost: other.test\r\n${CLOSE}`, "plain"),
  http("www → apex", 301, `GET / HTTP/1.1\r\nHost: www.example.com\r\n${CLOSE}`),
  http(
    "www → apex, with a port, path and arguments",
    301,
    `GET /app/x?y=1 HTTP/1.1\r\nHost: www.example.com:8080\r\n${CLOSE}`,
  ),
  http("www → apex, another domain", 301, `GET /a HTTP/1.1\r\nHost: www.shop.example.org\r\n${CLOSE}`),
  http("an unknown name: the default server", 200, `GET /assets/data.json HTTP/1.1\r\nHost: unknown.test\r\n${CLOSE}`),
  // Bad requests.
  http("HTTP/1.1 without Host: 400", 400, `GET / HTTP/1.1\r\n${CLOSE}`),
  http("a Host with a slash: 400", 400, `GET / HTTP/1.1\r\nHost: bad/host\r\n${CLOSE}`),
  http("a path above the root: 400", 400, "GET /../etc/passwd HTTP/1.0\r\n\r\n"),
  http("not HTTP: 400", 400, "HELLO\r\n\r\n"),
  http("two Hosts: 400", 400, `GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n${CLOSE}`),
  http("a bad Content-Length: 400", 400, `POST /api/x HTTP/1.1\r\n${H}Content-Length: abc\r\n${CLOSE}`),
  // WebSocket.
  ws(
    "WebSocket: room lobby, two messages echoed",
    101,
    upgrade("/ws/chat?room=lobby", "Origin: http://example.com\r\n"),
    ["hello", "second message"],
  ),
  ws("WebSocket: room a", 101, upgrade("/ws/chat?room=a"), ["in a"]),
  ws("WebSocket: room b", 101, upgrade("/ws/chat?room=b"), ["in b"]),
  ws("WebSocket: room c", 101, upgrade("/ws/chat?room=c"), ["in c"]),
  ws("WebSocket: room lobby again, the same backend", 101, upgrade("/ws/chat?room=lobby"), ["back"]),
  ws("WebSocket: no room", 101, upgrade("/ws/chat"), ["no room"]),
  http("/ws/ without Upgrade: plain HTTP to the backend", 200, `GET /ws/chat?room=a HTTP/1.1\r\n${H}${CLOSE}`),
];

interface Run {
  readonly outcomes: Outcome[];
  readonly log: string[];
  /** Error-log lines at [error] and above, without time, pid, connection number and prefix. */
  readonly errors: string[];
}

/** What one case showed: the reply, normalised, and what the backends received. */
interface Outcome {
  readonly reply: string[];
  readonly received: Received[];
}

function normalise(text: string, ports: ExamplePorts): string[] {
  return text
    .replace(/\r\n(Date|Server): [^\r]*/g, "")
    .replace(/<center>(nginx|wsgate)\/[^<]*<\/center>/g, "<center>SERVER</center>")
    .replaceAll(`:${ports.site}`, ":SITE")
    .replaceAll(`:${ports.plain}`, ":PLAIN")
    .split("\r\n");
}

/** Access-log lines, time blanked, sorted (a tunnel's line is written when it closes). */
function logLines(text: string): string[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.replace(/\[[^\]]+\]/, "[TIME]"))
    .sort();
}

async function runAll(kind: "nginx" | "wsgate", received: Received[], backends: Backend[]): Promise<Run> {
  const ports: ExamplePorts = {
    site: await freePort(),
    plain: await freePort(),
    api: [backends[0]!.port, backends[1]!.port],
    realtime: [backends[2]!.port, backends[3]!.port],
  };
  const peer = await startExample(kind, nginxPath()!, ports);
  try {
    const outcomes: Outcome[] = [];
    for (const item of CASES) {
      const from = received.length;
      const port = item.port === "site" ? ports.site : ports.plain;
      let reply: string[];
      if (item.messages) {
        const session = await webSocketSession(port, item.request, item.messages);
        reply = [
          ...normalise(session.head, ports),
          ...session.frames,
          `closed by the server: ${session.closedByServer}`,
        ];
      } else {
        reply = normalise((await send(port, item.request, item.toEnd)).toString("latin1"), ports);
        // stub_status: the figures of each server's own counters.
        if (item.request.includes("/nginx_status ")) reply[reply.length - 1] = reply.at(-1)!.replace(/\d+/g, "N");
      }
      // A request the backend answered is recorded before the reply is whole.
      outcomes.push({ reply, received: received.slice(from) });
    }
    // Log lines are written as connections close, and no event says so: poll for nearly every case's line
    // (a few cases write none), then give the last ones a moment. The peers' logs are compared afterwards, so
    // a line that never comes shows there.
    await until(() => logLines(peer.readLog("access.log")).length >= CASES.length - 4, 3000, "the log lines").catch(
      () => undefined,
    );
    await new Promise((done) => setTimeout(done, 100));
    const errors = comparableErrors(peer.readLog("error.log").replaceAll(peer.prefix, "PREFIX"));
    return { outcomes, log: logLines(peer.readLog("access.log")), errors };
  } finally {
    await peer.stop();
  }
}

describe("examples/multi-site: the same nginx.conf under nginx and wsgate", { skip }, () => {
  const received: Received[] = [];
  const backends: Backend[] = [];
  let nginx: Run;
  let wsgate: Run;

  before(async () => {
    for (const name of ["api1", "api2", "realtime1", "realtime2"]) backends.push(await startBackend(name, received));
    nginx = await runAll("nginx", received, backends);
    wsgate = await runAll("wsgate", received, backends);
  });
  after(async () => {
    for (const backend of backends) await backend.close();
  });

  test("the file is changed only in its ports", () => {
    const { original, text } = exampleConf({ site: 1001, plain: 1002, api: [1003, 1004], realtime: [1005, 1006] });
    const changed = original.split("\n").filter((line, i) => line !== text.split("\n")[i]);
    assert.deepEqual(
      changed.map((line) => line.trim()),
      [
        "server 127.0.0.1:9001 max_fails=3 fail_timeout=10s;",
        "server 127.0.0.1:9002 max_fails=3 fail_timeout=10s;",
        "server 127.0.0.1:9101;",
        "server 127.0.0.1:9102;",
        "listen       8000 default_server;",
        "listen       8080;",
        "listen       8080 default_server;",
      ],
    );
  });

  CASES.forEach((item, i) => {
    test(item.name, () => {
      const a = nginx.outcomes[i]!;
      const b = wsgate.outcomes[i]!;
      assert.match(a.reply[0] ?? "", new RegExp(`^HTTP/1\\.1 ${item.status} `), "nginx's status");
      assert.deepEqual(b.reply, a.reply, "the reply");
      assert.deepEqual(b.received, a.received, "what the backends received");
    });
  });

  test("the API's requests go to both backends; a room stays on its backend", () => {
    const used = new Set(nginx.outcomes.flatMap((outcome) => outcome.received.map((entry) => entry.backend)));
    assert.ok(used.has("api1") && used.has("api2"), [...used].join(" "));
    // Which backend a room hashes to depends on the backends' addresses (their ports change from run to run).
    const lobby = CASES.flatMap((item, i) =>
      item.messages && item.request.includes("room=lobby ") ? [nginx.outcomes[i]!.received[0]?.backend] : [],
    );
    assert.equal(lobby.length, 2);
    assert.ok(lobby[0]?.startsWith("realtime"));
    assert.equal(lobby[1], lobby[0]);
  });

  test("every WebSocket message came back from the backend the room hashes to", () => {
    CASES.forEach((item, i) => {
      if (!item.messages) return;
      const { reply, received } = nginx.outcomes[i]!;
      const backend = received[0]?.backend ?? "none";
      const echoes = item.messages.map((message) => `1:${backend}: ${message}`);
      assert.deepEqual(reply.slice(-item.messages.length - 2, -2), echoes, item.name);
      assert.equal(reply.at(-2), "8:1000", item.name);
    });
  });

  test("the access-log lines", () => {
    assert.ok(nginx.log.length >= CASES.length - 4, `nginx logged ${nginx.log.length} lines`);
    assert.deepEqual(wsgate.log, nginx.log);
  });

  test("the error-log lines", () => {
    assert.ok(nginx.errors.length > 0, "nginx logged the missing files");
    assert.deepEqual(wsgate.errors, nginx.errors);
  });
});
