/**
 * Response framing through the proxy, against nginx: a scripted backend
 * answers each path with a different framing (length, chunked, none, bodiless
 * statuses, HEAD, a 101 nobody asked for, an unasked 100 Continue), and the client sees the same bytes — status line, headers
 * (Date and Server aside) and body — from wsgate as from nginx, for HTTP/1.1
 * and HTTP/1.0 clients, kept alive or not.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, peersWith, startScriptedBackend } from "./peers.js";
import { exchange } from "../support/sockets.js";

const skip = skipWithoutNginx();

/** What the backend sends for each path (then it closes the connection). */
const SCRIPTS: Readonly<Record<string, string>> = {
  "/length": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
  "/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  "/chunked-ext": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
  "/close": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
  "/http10": "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold style",
  "/no-content": "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
  "/not-modified": 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
  "/empty": "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
  "/head": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n",
  "/reason": "HTTP/1.1 299 Custom Reason\r\nContent-Length: 2\r\n\r\nok",
  "/no-reason": "HTTP/1.1 404\r\nContent-Length: 2\r\n\r\nno",
  "/multi": "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 1\r\nVary: A\r\nVary: B\r\n\r\nx",
  "/keepalive-hdr": "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=99\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
  "/big-length": `HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${"b".repeat(100000)}`,
  // A 101 to a request that asked for no upgrade: no tunnel; what follows is passed on until the upstream closes.
  "/switching": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw bytes after",
  // An unasked 100 Continue: nginx passes it as the response, and the final one as its body.
  "/continue": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  "/processing": "HTTP/1.1 102 Processing\r\nX-A: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
};

/** The reply with the Date and Server header lines removed. */
function comparable(reply: Buffer): string {
  return reply.toString("latin1").replace(/\r\n(Date|Server): [^\r]*/g, "");
}

/** Read until the server closes, or 300 ms pass without more bytes (a kept-alive connection). */
function readAll(port: number, request: string): Promise<Buffer> {
  return exchange(port, request, undefined).catch(() => Buffer.alloc(0));
}

describe("differential: response framing", { skip }, () => {
  let backend: { port: number; close(): Promise<void> };
  const peers = peersWith(
    async () => {
      backend = await startScriptedBackend(SCRIPTS);
      const conf = `server { listen PORT; keepalive_timeout 1s; location / { proxy_pass http://127.0.0.1:${backend.port}; } }`;
      return conf;
    },
    async () => {
      await backend?.close();
    },
  );

  const clients: ReadonlyArray<readonly [string, (path: string) => string]> = [
    ["HTTP/1.1 kept alive", (path) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`],
    ["HTTP/1.1 closing", (path) => `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`],
    ["HTTP/1.0", (path) => `GET ${path} HTTP/1.0\r\n\r\n`],
    ["HTTP/1.0 keep-alive", (path) => `GET ${path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`],
    ["HEAD", (path) => `HEAD ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`],
  ];
  for (const path of Object.keys(SCRIPTS)) {
    for (const [client, request] of clients) {
      test(`${path}, ${client}`, async () => {
        const [nginx, wsgate] = await Promise.all([
          readAll(peers.nginx!.port, request(path)),
          readAll(peers.wsgate!.port, request(path)),
        ]);
        assert.equal(comparable(wsgate), comparable(nginx));
      });
    }
  }
});
