/**
 * auth_request against nginx: an auth service answering 200, 204, 401 with
 * WWW-Authenticate, 403, 500 and 302 (the code the client asks for in
 * X-Code, as the subrequest carries the client's headers), an auth location
 * that is `internal` (a client asking for it gets 404), one that answers with
 * `return`, one served by a static file (present: 200; missing: 404 → 500),
 * one whose service is down (502 in the subrequest → 500); auth_request_set
 * into a header sent upstream, a response header and the access log;
 * and $sent_http_… read in the subrequest; satisfy any with allow/deny and
 * with auth_basic (both challenges kept); a POST whose body reaches the main
 * upstream and not the auth service (which is still told the parent's
 * Content-Length unless the location drops it, as nginx's docs warn);
 * WebSocket handshakes let through and refused; `auth_request off` in a
 * nested location and auth_request at the server level; log_subrequest; the
 * error-log lines; and nginx -t's refusals.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  comparableErrors,
  comparableLog,
  listenTracked,
  peersWith,
  skipWithoutNginx,
  startRecordingBackend,
  type RecordingBackend,
  type ScriptedBackend,
} from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { expectNginxVerdicts } from "../support/test-both.js";
import { freePort } from "../support/proxy.js";

const skip = skipWithoutNginx();

/** An auth service: answers the status the client's X-Code asks for, and records what it was sent. */
async function startAuthService(received: string[]): Promise<ScriptedBackend> {
  return listenTracked((socket) => {
    let seen = "";
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      if (!seen.includes("\r\n\r\n")) return;
      const code = /\r\nx-code: *(\d+)/i.exec(seen)?.[1] ?? "200";
      // Two challenges only when asked: nginx 1.22 passes on the first alone, 1.23 and later every one.
      const second = /\r\nx-two: *1/i.test(seen) ? "WWW-Authenticate: Basic\r\n" : "";
      const challenge = code === "401" ? `WWW-Authenticate: Bearer realm="api"\r\n${second}` : "";
      const location = code === "302" ? "Location: http://elsewhere/\r\n" : "";
      // Whatever follows the head a moment later is a body the service was sent (it must be none).
      setTimeout(() => {
        received.push(seen);
        socket.end(
          `HTTP/1.1 ${code} Auth\r\nX-User: alice\r\nX-Role: admin\r\n${challenge}${location}` +
            "Content-Length: 9\r\nConnection: close\r\n\r\nauth-body",
        );
      }, 20);
    });
  });
}

function conf(auth: number, app: number, down: number, dir: string): string {
  const pass = `proxy_pass http://127.0.0.1:${app};`;
  return `
  log_format authlog '$request_uri $status user=$user role=$role st=$st sent=$sent';
  server {
    listen PORT;
    access_log logs/auth.log authlog;
    location / {
      auth_request /auth;
      auth_request_set $user $upstream_http_x_user;
      auth_request_set $role "role:$upstream_http_x_role";
      auth_request_set $st $upstream_status;
      auth_request_set $sent $sent_http_x_role;
      proxy_set_header X-User $user;
      add_header X-St $st always;
      ${pass}
      location /nested/open/ { auth_request off; ${pass} }
    }
    location = /auth {
      internal;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_pass http://127.0.0.1:${auth};
    }
    location /plain/ { auth_request /auth-plain; ${pass} }
    location = /auth-plain { internal; proxy_pass http://127.0.0.1:${auth}; }
    location /unpassed/ { auth_request /auth-unpassed; ${pass} }
    location = /auth-unpassed { internal; proxy_pass_request_body off; proxy_pass http://127.0.0.1:${auth}; }
    location /ws/ {
      auth_request /auth;
      auth_request_set $user $upstream_http_x_user;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection upgrade;
      proxy_set_header X-User $user;
      ${pass}
    }
    location /returns/ { auth_request /auth-return; ${pass} }
    location = /auth-return { internal; return 204; }
    location /refuses/ { auth_request /auth-refuse; ${pass} }
    location = /auth-refuse { internal; return 403; }
    location /files/ { auth_request /auth-files/ok.txt; ${pass} }
    location /nofile/ { auth_request /auth-files/missing.txt; ${pass} }
    location /auth-files/ { internal; alias ${dir}/; }
    location /down/ { auth_request /auth-down; ${pass} }
    location = /auth-down { internal; proxy_pass http://127.0.0.1:${down}; }
    location /any-allowed/ { satisfy any; allow 127.0.0.1; deny all; auth_request /auth; ${pass} }
    location /any-denied/ { satisfy any; deny all; auth_request /auth; ${pass} }
    location /all-denied/ { deny all; auth_request /auth; ${pass} }
    location /basic-too/ { auth_basic x; auth_basic_user_file ${dir}/htpasswd; auth_request /auth; ${pass} }
    location /basic-any/ {
      satisfy any; auth_basic x; auth_basic_user_file ${dir}/htpasswd; auth_request /auth; ${pass}
    }
  }
  server {
    listen PORT;
    server_name srv-level;
    access_log logs/auth.log authlog;
    # The auth location inherits auth_request: its subrequest skips the access phase, so it does not loop.
    auth_request /auth;
    auth_request_set $user $upstream_http_x_user;
    location / { proxy_set_header X-User $user; ${pass} }
    location = /auth { internal; proxy_pass_request_body off; proxy_set_header Content-Length ""; proxy_pass http://127.0.0.1:${auth}; }
  }`;
}

const BASIC = `Authorization: Basic ${Buffer.from("plain:secret").toString("base64")}\r\n`;

/** A WebSocket handshake's lines (the test's Connection: close aside: nginx tunnels on Upgrade alone). */
const UPGRADE = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/** [method and target, extra header lines, body]. */
const CASES: Array<[string, string, string]> = [
  ["GET /a?x=1", "X-Code: 200\r\n", ""],
  ["GET /b", "X-Code: 204\r\n", ""],
  ["GET /c", "X-Code: 401\r\n", ""],
  ["GET /d", "X-Code: 403\r\n", ""],
  ["GET /e", "X-Code: 500\r\n", ""],
  ["GET /f", "X-Code: 302\r\n", ""],
  ["POST /post", "X-Code: 200\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n", "hello world"],
  ["POST /post-refused", "X-Code: 403\r\nContent-Length: 5\r\n", "hello"],
  ["POST /plain/", "X-Code: 200\r\nContent-Length: 5\r\n", "hello"],
  ["POST /plain/", "X-Code: 200\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"],
  ["POST /unpassed/", "X-Code: 200\r\nContent-Length: 5\r\n", "hello"],
  ["GET /ws/chat", `X-Code: 200\r\n${UPGRADE}`, ""],
  ["GET /ws/chat", `X-Code: 401\r\n${UPGRADE}`, ""],
  ["GET /ws/chat", `X-Code: 403\r\n${UPGRADE}`, ""],
  ["GET /auth", "", ""],
  ["GET /nested/closed/", "X-Code: 401\r\n", ""],
  ["GET /nested/open/", "X-Code: 401\r\n", ""],
  ["GET /returns/", "", ""],
  ["GET /refuses/", "", ""],
  ["GET /files/", "", ""],
  ["GET /nofile/", "", ""],
  ["GET /down/", "", ""],
  ["GET /any-allowed/", "X-Code: 403\r\n", ""],
  ["GET /any-denied/", "X-Code: 200\r\n", ""],
  ["GET /any-denied/", "X-Code: 401\r\n", ""],
  ["GET /any-denied/", "X-Code: 403\r\n", ""],
  ["GET /all-denied/", "X-Code: 200\r\n", ""],
  ["GET /basic-too/", "X-Code: 200\r\n", ""],
  ["GET /basic-too/", `X-Code: 403\r\n${BASIC}`, ""],
  ["GET /basic-too/", `X-Code: 200\r\n${BASIC}`, ""],
  ["GET /basic-any/", "X-Code: 403\r\n", ""],
  ["GET /basic-any/", "X-Code: 401\r\n", ""],
  ["GET /basic-any/", "X-Code: 200\r\n", ""],
  ["GET /basic-any/", `X-Code: 403\r\n${BASIC}`, ""],
];

/** The reply, Date and Server aside. */
function comparable(reply: Buffer): string {
  return reply
    .toString("latin1")
    .split("\r\n")
    .filter((line) => !/^(date|server):/i.test(line))
    .join("\n")
    .replace(/nginx\/\d+\.\d+\.\d+|wsgate\/\d+\.\d+\.\d+/g, "SERVER");
}

/** What a service was sent, its own port aside. */
const sent = (heads: readonly string[]): string[] => heads.map((head) => head.replace(/127\.0\.0\.1:\d+/g, "HOST"));

describe("differential: auth_request", { skip }, () => {
  let dir = "";
  let app: RecordingBackend;
  let auth: ScriptedBackend;
  const authSeen: string[] = [];
  const peers = peersWith(
    async () => {
      dir = makeTempDir("auth-request");
      mkdirSync(join(dir, "files"));
      writeFileSync(join(dir, "files", "ok.txt"), "ok\n");
      writeFileSync(join(dir, "files", "htpasswd"), "plain:{PLAIN}secret\n");
      app = await startRecordingBackend();
      auth = await startAuthService(authSeen);
      return conf(auth.port, app.port, await freePort(), join(dir, "files"));
    },
    async () => {
      await app.close();
      await auth.close();
      removeTempDir(dir);
    },
  );

  for (const [line, headers, body] of CASES) {
    test(`${line} ${headers.split("\r\n")[0]!}`, async () => {
      const request = `${line} HTTP/1.1\r\nHost: a\r\n${headers}Connection: close\r\n\r\n${body}`;
      // One after the other, so that what each sent the services can be told apart.
      const before = [authSeen.length, app.heads.length];
      const nginx = await exchange(peers.nginx!.port, request);
      const nginxSent = [sent(authSeen.slice(before[0])), sent(app.heads.slice(before[1]))];
      const middle = [authSeen.length, app.heads.length];
      const wsgate = await exchange(peers.wsgate!.port, request);
      assert.equal(comparable(wsgate), comparable(nginx));
      assert.deepEqual([sent(authSeen.slice(middle[0])), sent(app.heads.slice(middle[1]))], nginxSent);
    });
  }

  for (const code of ["200", "401"]) {
    test(`auth_request at the server level, its auth location included: X-Code ${code}`, async () => {
      const request = `GET /srv HTTP/1.1\r\nHost: srv-level\r\nX-Code: ${code}\r\nConnection: close\r\n\r\n`;
      const before = [authSeen.length, app.heads.length];
      const nginx = await exchange(peers.nginx!.port, request);
      const nginxSent = [sent(authSeen.slice(before[0])), sent(app.heads.slice(before[1]))];
      const middle = [authSeen.length, app.heads.length];
      const wsgate = await exchange(peers.wsgate!.port, request);
      assert.equal(comparable(wsgate), comparable(nginx));
      assert.deepEqual([sent(authSeen.slice(middle[0])), sent(app.heads.slice(middle[1]))], nginxSent);
      assert.equal(nginxSent[0]!.length, 1);
    });
  }

  test("the access-log and error-log lines match", async () => {
    await linesEventually(() => peers.wsgate!.readLog("auth.log"), CASES.length + 2);
    assert.deepEqual(comparableLog(peers.wsgate!.readLog("auth.log")), comparableLog(peers.nginx!.readLog("auth.log")));
    const expected = comparableErrors(peers.nginx!.errorLog());
    assert.ok(expected.some((entry) => entry.includes("auth request unexpected status: 302")));
    assert.ok(expected.some((entry) => entry.includes('subrequest: "/auth-down"')));
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), expected);
  });

  test("the comparison is not empty: the user reaches the upstream, the body does not reach the auth service", () => {
    const post = app.heads.filter((head) => head.startsWith("POST /post "));
    assert.equal(post.length, 2);
    for (const head of post) {
      assert.match(head, /\r\nX-User: alice\r\n/);
      assert.match(head, /\r\nContent-Length: 11\r\n/i);
    }
    assert.ok(authSeen.every((head) => !head.includes("hello")));
    assert.ok(!app.heads.some((head) => head.startsWith("GET /c ") || head.startsWith("POST /post-refused ")));
    // The handshake reached the WebSocket backend only when allowed, once per peer, with the user.
    const handshakes = app.heads.filter((head) => head.startsWith("GET /ws/chat "));
    assert.equal(handshakes.length, 2);
    for (const head of handshakes) assert.match(head, /\r\nX-User: alice\r\n[^]*\r\nX-Code: 200\r\n/);
    const log = peers.wsgate!.readLog("auth.log");
    assert.match(log, /^\/ws\/chat 101 user=alice /m);
    assert.match(log, /^\/a\?x=1 200 user=alice role=role:admin st=200 sent=admin$/m);
    assert.match(log, /^\/c 401 user=alice role=role:admin st=401 sent=admin$/m);
  });
});

describe("differential: log_subrequest", { skip }, () => {
  let app: RecordingBackend;
  let auth: ScriptedBackend;
  const peers = peersWith(
    async () => {
      app = await startRecordingBackend();
      auth = await startAuthService([]);
      const down = await freePort();
      return `
      log_format sub '$request|$uri|$request_method|$status|$upstream_status|$user';
      server {
        listen PORT;
        access_log logs/sub.log sub;
        location / {
          auth_request /auth;
          auth_request_set $user $upstream_http_x_user;
          proxy_pass http://127.0.0.1:${app.port};
        }
        location = /auth {
          internal;
          log_subrequest on;
          proxy_pass_request_body off;
          proxy_set_header Content-Length "";
          proxy_pass http://127.0.0.1:${auth.port};
        }
        location /quiet/ { auth_request /auth-quiet; proxy_pass http://127.0.0.1:${app.port}; }
        location = /auth-quiet { internal; return 204; }
        location /down/ { auth_request /auth-down; proxy_pass http://127.0.0.1:${app.port}; }
        location = /auth-down { internal; log_subrequest on; proxy_pass http://127.0.0.1:${down}; }
      }`;
    },
    async () => {
      await app.close();
      await auth.close();
    },
  );

  test("a subrequest's line where log_subrequest is on, before its request's; none elsewhere", async () => {
    const requests = [
      ["/a?x=1", "X-Code: 200\r\n"],
      ["/b", "X-Code: 401\r\n"],
      ["/quiet/", ""],
      ["/down/", ""],
    ];
    for (const [path, headers] of requests) {
      const request = `GET ${path!} HTTP/1.1\r\nHost: a\r\n${headers!}Connection: close\r\n\r\n`;
      const [nginx, wsgate] = await Promise.all([
        exchange(peers.nginx!.port, request),
        exchange(peers.wsgate!.port, request),
      ]);
      assert.equal(comparable(wsgate), comparable(nginx));
    }
    await linesEventually(() => peers.wsgate!.readLog("sub.log"), 7);
    const lines = (log: string): string[] =>
      log
        .split("\n")
        .filter(Boolean)
        .map((line) => line.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR"));
    const expected = lines(peers.nginx!.readLog("sub.log"));
    assert.ok(expected.includes("GET /a?x=1 HTTP/1.1|/auth|GET|200|200|-"), expected.join("\n"));
    assert.equal(expected.length, 7);
    assert.deepEqual(lines(peers.wsgate!.readLog("sub.log")), expected);
  });
});

describe("differential: auth_request refusals match nginx -t", { skip }, () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("auth-request-t");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("nginx's messages", async () => {
    const cases: Array<[string, string | undefined]> = [
      [
        "auth_request /a; auth_request_set $u $upstream_http_x_user;\n" +
          "server { listen 127.0.0.1:1; auth_request off; location / { auth_request /b; auth_request_set $u 1;" +
          " auth_request_set $args x; set $u 2; } }",
        undefined,
      ],
      ["server { listen 127.0.0.1:1; set $v 1; auth_request_set $v 2; }", undefined],
      ["auth_request /a;\nauth_request /b;", `"auth_request" directive is duplicate in FILE:4`],
      ["auth_request off;\nauth_request /b;", `"auth_request" directive is duplicate in FILE:4`],
      ["auth_request;", `invalid number of arguments in "auth_request" directive in FILE:3`],
      [
        "log_subrequest maybe;",
        `invalid value "maybe" in "log_subrequest" directive, it must be "on" or "off" in FILE:3`,
      ],
      ["log_subrequest on;\nlog_subrequest off;", `"log_subrequest" directive is duplicate in FILE:4`],
      ["auth_request_set $a;", `invalid number of arguments in "auth_request_set" directive in FILE:3`],
      ["auth_request_set a b;", `invalid variable name "a" in FILE:3`],
      ["auth_request_set $remote_addr b;", `the duplicate "remote_addr" variable in FILE:3`],
      ["auth_request_set $a $nosuch;", `unknown "nosuch" variable`],
      [
        "server { listen 127.0.0.1:1; location / { if ($arg_a) { auth_request /x; } } }",
        `"auth_request" directive is not allowed here in FILE:3`,
      ],
      [
        "server { listen 127.0.0.1:1; location / { limit_except GET { auth_request /x; } } }",
        `"auth_request" directive is not allowed here in FILE:3`,
      ],
    ];
    await expectNginxVerdicts(prefix, cases);
  });
});
