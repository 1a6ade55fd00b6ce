/**
 * auth_jwt at the WebSocket handshake, the issue's use: a browser cannot set
 * headers on a WebSocket, so the token comes as `?token=` (token=$arg_token).
 * Allowed and refused over HTTP/1.1 (a `ws` client) and over HTTP/2 (RFC
 * 8441 extended CONNECT, wsgate_http2_websocket on): a refused handshake
 * never reaches the backend. Then `hash $jwt_claim_sub consistent` pins each
 * user to one backend.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { WebSocket } from "ws";
import { ECHO_PREFIX, header, startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { destroySessions, h2Session, h2WebSocket } from "../support/h2-client.js";
import { withTimeout } from "../support/wait.js";
import { bearerStatus, epoch, keySet, makeKey, sign, type TestKey } from "../support/jwt.js";

function conf(port: number, backend: number, pinned: readonly number[]): string {
  return httpConf(`
    upstream backend { server 127.0.0.1:${backend}; }
    upstream pinned {
      hash $jwt_claim_sub consistent;
      ${pinned.map((p) => `server 127.0.0.1:${p};`).join("\n      ")}
    }
    server {
      listen 127.0.0.1:${port};
      http2 on;
      wsgate_http2_websocket on;
      auth_jwt_key_file keys.json;
      location /chat {
        auth_jwt "chat" token=$arg_token;
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header X-User $jwt_claim_sub;
      }
      location /pinned {
        auth_jwt "api";
        proxy_pass http://pinned;
      }
    }`);
}

/** The status a `ws` handshake ends with: 101 (then the open socket) or the refusal's. */
function handshake(url: string): Promise<{ status: number; ws?: WebSocket }> {
  const outcome = new Promise<{ status: number; ws?: WebSocket }>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once("open", () => resolve({ status: 101, ws }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
  return withTimeout(outcome, 5000, `the handshake of ${url}`);
}

describe("auth_jwt at the WebSocket handshake", () => {
  let backend: RecordingBackend;
  const pinned: RecordingBackend[] = [];
  let wsgate: WsgateProcess;
  let port: number;
  let key: TestKey;
  let other: TestKey;

  before(async () => {
    key = await makeKey("ES256", "chat-1");
    other = await makeKey("ES256", "chat-1");
    backend = await startRecordingBackend();
    for (let i = 0; i < 3; i++) pinned.push(await startRecordingBackend());
    port = await freePort();
    wsgate = await startWsgate({
      conf: conf(
        port,
        backend.port,
        pinned.map((b) => b.port),
      ),
      files: { "keys.json": keySet(key) },
    });
  });

  after(async () => {
    destroySessions();
    await wsgate?.stop();
    await backend?.close();
    for (const b of pinned) await b.close();
  });

  test("HTTP/1.1: a valid ?token= opens the tunnel; the backend sees the user", async () => {
    const token = await sign(key, { sub: "alice", exp: epoch(300) });
    const { status: code, ws } = await handshake(`ws://127.0.0.1:${port}/chat?token=${token}`);
    assert.equal(code, 101);
    assert.equal(header(backend.requests.at(-1)!, "x-user"), "alice");
    const echoed = withTimeout(
      new Promise<string>((resolve) => ws!.once("message", (data: Buffer) => resolve(data.toString()))),
      5000,
      "the echo",
    );
    ws!.send("hello");
    assert.equal(await echoed, `${ECHO_PREFIX}hello`);
    ws!.close();
  });

  test("HTTP/1.1: missing, expired and forged tokens get 401 and the backend is never contacted", async () => {
    const connections = backend.connections;
    const requests = backend.requests.length;
    const expired = await sign(key, { sub: "alice", exp: epoch(-60) });
    const forged = await sign(other, { sub: "alice" });
    for (const query of ["", `?token=${expired}`, `?token=${forged}`, "?token=garbage"]) {
      const { status: code } = await handshake(`ws://127.0.0.1:${port}/chat${query}`);
      assert.equal(code, 401, query);
    }
    assert.equal(backend.requests.length, requests);
    assert.equal(backend.connections, connections);
  });

  test("HTTP/2 extended CONNECT: allowed with a valid token, refused without the backend", async () => {
    const session = await h2Session(`http://127.0.0.1:${port}`);
    try {
      const token = await sign(key, { sub: "bob" });
      const ws = await h2WebSocket(session, `/chat?token=${token}`);
      assert.equal(ws.status, 200);
      assert.equal(header(backend.requests.at(-1)!, "x-user"), "bob");
      ws.send("over h2");
      const reply = await ws.frames.next();
      assert.equal(reply.payload.toString(), `${ECHO_PREFIX}over h2`);
      ws.stream.close();

      const connections = backend.connections;
      const requests = backend.requests.length;
      const missing = await h2WebSocket(session, "/chat");
      assert.equal(missing.status, 401);
      assert.equal(missing.headers["www-authenticate"], 'Bearer realm="chat"');
      const forged = await h2WebSocket(session, `/chat?token=${await sign(other, { sub: "bob" })}`);
      assert.equal(forged.status, 401);
      assert.equal(forged.headers["www-authenticate"], 'Bearer realm="chat", error="invalid_token"');
      assert.equal(backend.requests.length, requests);
      assert.equal(backend.connections, connections);
    } finally {
      session.close();
    }
  });

  test("hash $jwt_claim_sub consistent: the same user always reaches the same backend", async () => {
    const users = ["ann", "ben", "cleo", "dan", "eve", "fay", "gus", "hal"];
    const chosen = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (const user of users) {
        const counts = pinned.map((b) => b.requests.length);
        assert.equal(await bearerStatus(port, `/pinned/${user}`, await sign(key, { sub: user })), 200);
        const hit = pinned.findIndex((b, i) => b.requests.length === counts[i]! + 1);
        assert.notEqual(hit, -1, `${user} reached no pinned backend`);
        if (round === 0) chosen.set(user, hit);
        else assert.equal(hit, chosen.get(user), `${user} moved from backend ${chosen.get(user)} to ${hit}`);
      }
    }
    // The hash is of the claim, not of a constant: the users are spread over more than one backend.
    assert.ok(new Set(chosen.values()).size > 1, `every user on one backend: ${[...chosen.values()].join(",")}`);
  });
});
