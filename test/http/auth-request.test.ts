/**
 * auth_request in front of WebSocket handshakes, as wsgate runs them: an
 * HTTP/1.1 upgrade and an RFC 8441 extended CONNECT over HTTP/2, let
 * through (the tunnel echoes, the upstream is sent the user the auth service
 * named) and refused (401 with the challenge, 403 — the WebSocket backend
 * never hears of it); every WWW-Authenticate line of a 401 passed on (nginx
 * 1.23 and later); and a client that leaves while the subrequest waits on the
 * auth service: the subrequest's upstream connection is closed, the request
 * logged 499, the process serves on.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { constants } from "node:http2";
import {
  ECHO_PREFIX,
  header,
  startRecordingBackend,
  type BackendHandler,
  type RecordingBackend,
} from "../support/backend.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { exchange, hasWholeResponse, openWs } from "../support/sockets.js";
import { destroySessions, h2Session, h2WebSocket } from "../support/h2-client.js";
import { until, withTimeout } from "../support/wait.js";

/** The auth service: the original URI's token decides; "hold" never answers (the socket is the test's). */
function authHandler(held: Socket[]): BackendHandler {
  return (request) => {
    const uri = header(request, "x-original-uri") ?? "";
    if (uri.includes("hold")) return { takeover: (socket: Socket) => void held.push(socket) };
    if (uri.includes("token=good")) return { status: 204, headers: [["X-User", "alice"]], body: "" };
    if (uri.includes("token=two"))
      return {
        status: 401,
        headers: [
          ["WWW-Authenticate", 'Bearer realm="chat"'],
          ["WWW-Authenticate", "Basic"],
        ],
        body: "no",
      };
    if (uri.includes("token=")) return { status: 403, body: "no" };
    return { status: 401, headers: [["WWW-Authenticate", 'Bearer realm="chat"']], body: "no" };
  };
}

function conf(port: number, auth: number, ws: number): string {
  return httpConf(`
    log_format authlog '$request_uri $status user=$user';
    server {
      listen 127.0.0.1:${port};
      http2 on;
      wsgate_http2_websocket on;
      access_log logs/auth.log authlog;
      location / {
        auth_request /auth;
        auth_request_set $user $upstream_http_x_user;
        proxy_pass http://127.0.0.1:${ws};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header X-User $user;
      }
      location = /auth {
        internal;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_pass http://127.0.0.1:${auth};
      }
    }`);
}

const handshake = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

describe("auth_request in front of WebSocket handshakes", () => {
  let auth: RecordingBackend;
  let ws: RecordingBackend;
  let wsgate: WsgateProcess;
  let port: number;
  const held: Socket[] = [];

  before(async () => {
    auth = await startRecordingBackend({ handler: authHandler(held) });
    ws = await startRecordingBackend();
    port = await freePort();
    wsgate = await startWsgate({ conf: conf(port, auth.port, ws.port) });
  });

  after(async () => {
    destroySessions();
    for (const socket of held) socket.destroy();
    await wsgate?.stop();
    await auth?.close();
    await ws?.close();
  });

  test("HTTP/1.1: a good token opens the tunnel, and the upstream is told the user", async () => {
    const client = await openWs(`ws://127.0.0.1:${port}/chat?token=good`);
    try {
      const echoed = new Promise<string>((resolve) => client.once("message", (data) => resolve(String(data))));
      client.send("hello");
      assert.equal(await withTimeout(echoed, 5000, "the echo"), `${ECHO_PREFIX}hello`);
      const upgrade = ws.requests.find((request) => request.target === "/chat?token=good");
      assert.ok(upgrade);
      assert.equal(header(upgrade, "x-user"), "alice");
      const check = auth.requests.find((request) => header(request, "x-original-uri") === "/chat?token=good");
      assert.ok(check);
      assert.equal(check.method, "GET");
      // The subrequest carries the client's headers, but never its Upgrade: the auth service is not a tunnel.
      assert.equal(header(check, "upgrade"), undefined);
    } finally {
      client.terminate();
    }
  });

  test("HTTP/1.1: no token is 401 with the challenge, a bad one 403; the backend never sees either", async () => {
    const connections = ws.connections;
    const missing = (await exchange(port, handshake("/chat"), hasWholeResponse)).toString("latin1");
    assert.match(missing, /^HTTP\/1.1 401 /);
    assert.match(missing, /\r\nWWW-Authenticate: Bearer realm="chat"\r\n/);
    const bad = (await exchange(port, handshake("/chat?token=bad"), hasWholeResponse)).toString("latin1");
    assert.match(bad, /^HTTP\/1.1 403 /);
    assert.equal(ws.connections, connections);
    assert.ok(!ws.requests.some((request) => request.target === "/chat" || request.target === "/chat?token=bad"));
  });

  test("every WWW-Authenticate line of the subrequest's 401 is passed on", async () => {
    const reply = (await exchange(port, "GET /x?token=two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).toString(
      "latin1",
    );
    assert.match(reply, /^HTTP\/1.1 401 [^]*\r\nWWW-Authenticate: Bearer realm="chat"\r\nWWW-Authenticate: Basic\r\n/);
  });

  test("HTTP/2 (RFC 8441): a good token opens the tunnel; none is 401, a bad one 403, unseen by the backend", async () => {
    const session = await h2Session(`http://127.0.0.1:${port}`);
    try {
      const allowed = await h2WebSocket(session, "/h2chat?token=good");
      assert.equal(allowed.status, 200);
      allowed.send("over h2");
      const reply = await allowed.frames.next();
      assert.equal(reply.payload.toString(), `${ECHO_PREFIX}over h2`);
      const upgrade = ws.requests.find((request) => request.target === "/h2chat?token=good");
      assert.equal(upgrade && header(upgrade, "x-user"), "alice");
      allowed.stream.close();

      const connections = ws.connections;
      const missing = await h2WebSocket(session, "/h2chat");
      assert.equal(missing.status, 401);
      assert.equal(missing.headers["www-authenticate"], 'Bearer realm="chat"');
      const bad = await h2WebSocket(session, "/h2chat?token=bad");
      assert.equal(bad.status, 403);
      assert.equal(ws.connections, connections);
    } finally {
      session.close();
    }
  });

  test("the client leaving while the auth service has not answered: its connection closed, 499, serving goes on", async () => {
    const before = held.length;
    const client = connect(port, "127.0.0.1");
    client.on("error", () => undefined);
    client.write("GET /hold?token=good HTTP/1.1\r\nHost: a\r\n\r\n");
    await until(() => held.length > before, 5000, "the subrequest at the auth service");
    const authSide = held[held.length - 1]!;
    const closed = new Promise<void>((resolve) => authSide.once("close", () => resolve()));
    client.destroy();
    await withTimeout(closed, 5000, "the subrequest's upstream connection closed");
    await until(() => wsgate.accessLog("auth.log").includes("/hold?token=good 499 user=-"), 5000, "the 499 line");
    const next = (await exchange(port, "GET /x?token=bad HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).toString(
      "latin1",
    );
    assert.match(next, /^HTTP\/1.1 403 /);
    assert.ok(wsgate.alive());
    assert.doesNotMatch(wsgate.errorLog(), /\[(alert|crit|emerg)\]/);
  });
  test("HTTP/2: the stream reset while the auth service has not answered: its connection closed, 499", async () => {
    const before = held.length;
    const session = await h2Session(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":path": "/hold-h2?token=good" });
      stream.on("error", () => undefined);
      await until(() => held.length > before, 5000, "the subrequest at the auth service");
      const authSide = held[held.length - 1]!;
      const closed = new Promise<void>((resolve) => authSide.once("close", () => resolve()));
      stream.close(constants.NGHTTP2_CANCEL);
      await withTimeout(closed, 5000, "the subrequest's upstream connection closed");
      await until(() => wsgate.accessLog("auth.log").includes("/hold-h2?token=good 499 user=-"), 5000, "the 499 line");
    } finally {
      session.close();
    }
    assert.ok(wsgate.alive());
  });
});
