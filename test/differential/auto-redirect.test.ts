/**
 * nginx's auto-redirect, against nginx: a prefix (or `=`) location whose name
 * ends in "/" and whose handler is proxy_pass answers a request for its name
 * without the slash with 301 to the name (plus the arguments), made absolute
 * by absolute_redirect, server_name_in_redirect and port_in_redirect of that
 * location — unless a location is named exactly the URI. It comes before
 * regex locations, and applies to WebSocket handshakes as to any request.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startRecordingBackend, peersWith, type Peer, type RecordingBackend } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";

const skip = skipWithoutNginx();

const conf = (backend: number): string => `
  server {
    listen PORT;
    server_name .redirect.test;
    location / { return 200 "root\\n"; }
    location /ws/ { proxy_pass http://127.0.0.1:${backend}; proxy_http_version 1.1;
                    proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; }
    location /api/ { proxy_pass http://127.0.0.1:${backend}/; }
    location = /exact/ { proxy_pass http://127.0.0.1:${backend}; }
    location /both/ { proxy_pass http://127.0.0.1:${backend}; }
    location /both { return 200 "both without slash\\n"; }
    location /eq/ { proxy_pass http://127.0.0.1:${backend}; }
    location = /eq { return 200 "eq exact\\n"; }
    location ~ ^/rx { return 200 "regex\\n"; }
    location /rx/ { proxy_pass http://127.0.0.1:${backend}; }
    location /static/ { return 200 "static\\n"; }
    location /nested/ { location /nested/ws/ { proxy_pass http://127.0.0.1:${backend}; } }
    location /rel/ { absolute_redirect off; proxy_pass http://127.0.0.1:${backend}; }
    location /noport/ { port_in_redirect off; proxy_pass http://127.0.0.1:${backend}; }
    location /named/ { server_name_in_redirect on; proxy_pass http://127.0.0.1:${backend}; }
  }`;

const get = (target: string, host = "redirect.test"): string =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

const REQUESTS: readonly string[] = [
  get("/ws"),
  get("/ws?a=1&b=%20"),
  get("/ws", "other.example:8080"),
  get("/api"),
  get("/api/"),
  get("/exact"),
  get("/both"),
  get("/eq"),
  get("/rx"),
  get("/static"),
  get("/nested/ws"),
  get("/rel?x=y"),
  get("/noport"),
  get("/named", "sub.redirect.test"),
  "GET /ws HTTP/1.0\r\n\r\n",
  "HEAD /ws HTTP/1.1\r\nHost: redirect.test\r\nConnection: close\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: redirect.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
];

describe("differential: auto-redirect of proxy_pass locations ending in /", { skip }, () => {
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

  /** The status line, Location (with the peer's own port as PORT) and, for a 200, the body. */
  async function outcome(peer: Peer, request: string): Promise<string[]> {
    // The handshake keeps its connection open after the 301: read until the whole answer is in.
    const whole = request.startsWith("HEAD") ? undefined : hasWholeResponse;
    const reply = (await exchange(peer.port, request, whole)).toString("latin1");
    const status = reply.slice(0, reply.indexOf("\r\n"));
    const location = /\r\nlocation: ([^\r]*)/i.exec(reply)?.[1]?.replaceAll(String(peer.port), "PORT") ?? "";
    const body = status.includes(" 200 ") ? reply.slice(reply.indexOf("\r\n\r\n") + 4) : "";
    return [status, location, body];
  }

  test("statuses, Location and answers as nginx's", async () => {
    for (const request of REQUESTS) {
      assert.deepEqual(
        await outcome(peers.wsgate!, request),
        await outcome(peers.nginx!, request),
        JSON.stringify(request),
      );
    }
  });

  test("a redirect never reaches the backend; the access log is nginx's", async () => {
    const before = backend.heads.length;
    await outcome(peers.nginx!, get("/ws?q=1"));
    await outcome(peers.wsgate!, get("/ws?q=1"));
    assert.equal(backend.heads.length, before);
    const last = (peer: Peer): string =>
      peer
        .accessLog()
        .trim()
        .split("\n")
        .pop()!
        .replace(/\[[^\]]+\] "GET [^"]*" (\d+) \d+/, "[T] $1");
    assert.equal(last(peers.wsgate!), last(peers.nginx!));
    assert.match(last(peers.nginx!), / 301 /);
  });
});
