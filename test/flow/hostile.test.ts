/**
 * A running wsgate fed 300 mutated requests over real connections, several
 * at a time: every connection gets an answer or a close, the process keeps
 * running, and a good request afterwards is served.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, connect, type Server } from "node:net";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID =
  "POST /a?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
  "5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

/** Send bytes, half-close, and resolve when the server answers-and-closes or closes (bounded). */
function throwAt(port: number, bytes: Buffer): Promise<"answered" | "closed"> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answered = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close for ${JSON.stringify(bytes.toString("latin1"))}`));
    }, 5000);
    socket.on("data", () => (answered = true));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answered ? "answered" : "closed");
    });
    socket.end(bytes);
  });
}

describe("hostile input to a running wsgate", () => {
  let backend: Server;
  let wsgate: WsgateProcess;
  let port: number;

  before(async () => {
    backend = createServer((socket) => {
      socket.on("error", () => socket.destroy());
      socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(`server { listen 127.0.0.1:${port}; client_header_timeout 2s; client_body_timeout 2s;
         location / { proxy_pass http://127.0.0.1:${address.port}; proxy_http_version 1.1; proxy_read_timeout 2s; } }`),
    });
  });

  after(async () => {
    await wsgate?.stop();
    backend?.close();
  });

  test("300 mutated requests, 10 at a time: each answered or closed, and the process lives on", async () => {
    const next = random(1125);
    const base = Buffer.from(VALID, "latin1");
    const outcomes = { answered: 0, closed: 0 };
    for (let round = 0; round < 30; round++) {
      const batch = Array.from({ length: 10 }, () => {
        const bytes = Buffer.from(base);
        for (let edit = 0; edit < 1 + Math.floor(next() * 4); edit++) {
          bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
        }
        return throwAt(port, bytes.subarray(0, next() < 0.2 ? Math.floor(next() * bytes.length) : bytes.length));
      });
      for (const outcome of await Promise.all(batch)) outcomes[outcome]++;
    }
    assert.ok(outcomes.answered > 100, `answered ${outcomes.answered}, closed ${outcomes.closed}`);
    assert.equal(wsgate.child.exitCode, null, "wsgate is still running");
    assert.doesNotMatch(wsgate.errorLog(), /uncaught exception/);
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("close", () => resolve(text));
      // Not end(): a client that half-closes while its request is in flight is a 499, as in nginx.
      socket.write("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    });
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  });
});
