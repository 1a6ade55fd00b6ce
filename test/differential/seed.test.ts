/**
 * The same configurations and the same request bytes, under Debian's nginx and
 * under wsgate: the status lines and headers the client gets, the request
 * heads the backend sees, and the access-log lines (time aside) must match.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import {
  comparableErrors,
  comparableHead,
  comparableLog,
  skipWithoutNginx,
  startPeer,
  startRecordingBackend,
  type Peer,
  type RecordingBackend,
} from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { seedHttp } from "../support/seed-config.js";
import { freePort } from "../support/proxy.js";

const skip = skipWithoutNginx();

const SEED = (backend: number): string => seedHttp(backend, "PORT");

const DEFAULTS = (backend: number): string => `
  server {
    listen PORT;
    proxy_set_header X-Level server;
    location / { proxy_pass http://127.0.0.1:${backend}; }
    location /own/ { proxy_set_header X-Own yes; proxy_pass http://127.0.0.1:${backend}/other/; }
  }`;

const HANDSHAKE =
  "GET /chat?room=1 HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUser-Agent: diff/1\r\n\r\n";

/** Requests as raw bytes; every one ends its connection so both servers log it at once. */
const PLAIN_REQUESTS = [
  "GET / HTTP/1.1\r\nHost: example.test\r\nUser-Agent: diff/1\r\nConnection: close\r\n\r\n",
  "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 10.0.0.1\r\nReferer: http://r.test/\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.0\r\n\r\n",
  "HEAD / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
  "POST /submit HTTP/1.1\r\nHost: example.test\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
  "GET / HTTP/1.1\r\nHost: example.test\r\nKeep-Alive: 300\r\nTE: trailers\r\nExpect: something\r\nUpgrade: h2c\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: example.test\r\nAuthorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n",
];

interface Seen {
  readonly replies: string[][];
  readonly heads: string[];
  readonly log: string[];
}

async function run(peer: Peer, backend: RecordingBackend, requests: readonly string[]): Promise<Seen> {
  const before = backend.heads.length;
  const replies: string[][] = [];
  for (const request of requests) replies.push(comparableHead(await exchange(peer.port, request)));
  await linesEventually(peer.accessLog, requests.length);
  return { replies, heads: backend.heads.slice(before), log: comparableLog(peer.accessLog()) };
}

describe("differential: wsgate and nginx answer alike", { skip }, () => {
  let backend: RecordingBackend;
  before(async () => {
    backend = await startRecordingBackend();
  });
  after(async () => backend?.close());

  for (const [name, http] of [
    ["the seed configuration", SEED],
    ["nginx's defaults, inheritance and a proxy_pass URI", DEFAULTS],
  ] as const) {
    test(`${name}: plain requests`, async () => {
      const requests =
        name === "the seed configuration"
          ? PLAIN_REQUESTS
          : [
              ...PLAIN_REQUESTS,
              "GET /own/x%20y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
              // HTTP/1.0 upstream (nginx's default): a chunked body arrives with its length.
              "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            ];
      const seen: Record<string, Seen> = {};
      for (const peerName of ["nginx", "wsgate"] as const) {
        const peer = await startPeer(peerName, http(backend.port));
        try {
          seen[peerName] = await run(peer, backend, requests);
        } finally {
          await peer.stop();
        }
      }
      assert.deepEqual(seen.wsgate!.replies, seen.nginx!.replies, "status lines and headers");
      assert.deepEqual(seen.wsgate!.heads, seen.nginx!.heads, "request heads at the backend");
      assert.deepEqual(seen.wsgate!.log, seen.nginx!.log, "access-log lines");
    });
  }

  test("the seed configuration: a WebSocket handshake and tunnel", async () => {
    const seen: Record<string, Seen & { frames: string }> = {};
    for (const peerName of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(peerName, SEED(backend.port));
      try {
        const before = backend.heads.length;
        const reply = await exchange(peer.port, HANDSHAKE);
        const text = reply.toString("latin1");
        const frames = text.slice(text.indexOf("\r\n\r\n") + 4);
        await linesEventually(peer.accessLog, 1);
        seen[peerName] = {
          replies: [comparableHead(reply)],
          heads: backend.heads.slice(before),
          log: comparableLog(peer.accessLog()),
          frames: Buffer.from(frames, "latin1").toString("hex"),
        };
      } finally {
        await peer.stop();
      }
    }
    assert.deepEqual(seen.wsgate!.replies, seen.nginx!.replies, "101 head");
    assert.deepEqual(seen.wsgate!.heads, seen.nginx!.heads, "handshake at the backend");
    assert.equal(seen.wsgate!.frames, seen.nginx!.frames, "tunnelled bytes");
    assert.deepEqual(seen.wsgate!.log, seen.nginx!.log, "access-log line");
  });

  test("upstream down: the same 502 and log line", async () => {
    const dead = await freePort();
    const seen: Record<string, Seen & { errors: string[] }> = {};
    for (const peerName of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(peerName, SEED(dead));
      try {
        seen[peerName] = {
          ...(await run(peer, backend, [PLAIN_REQUESTS[0]!])),
          errors: comparableErrors(peer.errorLog()),
        };
      } finally {
        await peer.stop();
      }
    }
    assert.deepEqual(seen.wsgate!.replies, seen.nginx!.replies);
    assert.deepEqual(seen.wsgate!.log, seen.nginx!.log);
    assert.equal(seen.nginx!.errors.length, 1, "nginx logged the refused connect");
    assert.deepEqual(seen.wsgate!.errors, seen.nginx!.errors, "the error-log line");
  });
});
