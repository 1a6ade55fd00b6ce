/**
 * The gzip filter's body step streams: a proxied chunked body larger than
 * every buffer on the way waits for a client that does not read (the
 * upstream is held back through zlib's input and the client's socket) and
 * arrives whole once it reads; a large file comes compressed and whole;
 * with proxy_buffering off each upstream read is flushed through zlib
 * (Z_SYNC_FLUSH), so a slow stream is not held back by the compressor.
 * The bodies are compared after de-chunking and gunzip with the originals.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { constants, gunzipSync } from "node:zlib";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";

const BIG = randomBytes(24 * 1024 * 1024);
const PIECE = 64 * 1024;
const TEXT = Array.from({ length: 60_000 }, (_, i) => `line ${i} of the file, ${(i * 7919) % 10007}\n`).join("");

/** A backend that sends BIG in chunks as fast as its socket takes them, and says how far it got. */
class ChunkingBackend {
  written = 0;
  finished = false;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("error", () => socket.destroy());
      socket.on("close", () => this.sockets.delete(socket));
      socket.once("data", () => this.send(socket));
    });
  }

  listen(port: number): Promise<void> {
    return new Promise((done) => this.server.listen(port, "127.0.0.1", done));
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((done) => this.server.close(() => done()));
  }

  private send(socket: Socket): void {
    socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
    let at = 0;
    const pump = (): void => {
      while (at < BIG.length) {
        const piece = BIG.subarray(at, at + PIECE);
        at += piece.length;
        socket.write(`${piece.length.toString(16)}\r\n`);
        socket.write(piece);
        const ok = socket.write("\r\n");
        this.written = at;
        if (!ok) {
          socket.once("drain", pump);
          return;
        }
      }
      socket.end("0\r\n\r\n");
      this.finished = true;
    };
    pump();
  }
}

/** A client that sends `request`, reads nothing until told, then reads to the close. */
function pausedClient(port: number, request: string): { resume(): Promise<Buffer> } {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.pause();
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined);
  socket.write(request);
  return {
    resume: () =>
      new Promise((done, fail) => {
        const timer = setTimeout(() => {
          socket.destroy();
          fail(new Error("the response did not end within 20 s"));
        }, 20_000);
        socket.on("close", () => {
          clearTimeout(timer);
          done(Buffer.concat(chunks));
        });
        socket.resume();
      }),
  };
}

/** The body of a chunked, gzip-encoded reply, decoded. */
function decoded(reply: Buffer): { head: string; body: Buffer } {
  const end = reply.indexOf("\r\n\r\n");
  const head = reply.subarray(0, end).toString("latin1");
  assert.match(head, /\r\nTransfer-Encoding: chunked\r\n/);
  assert.match(head, /\r\nContent-Encoding: gzip(\r\n|$)/);
  const parts: Buffer[] = [];
  let at = end + 4;
  for (;;) {
    const line = reply.indexOf("\r\n", at);
    const size = line === -1 ? NaN : parseInt(reply.subarray(at, line).toString("latin1"), 16);
    assert.ok(
      Number.isInteger(size) && line + 2 + size + 2 <= reply.length,
      `a whole chunk at ${at} of ${reply.length}`,
    );
    if (size === 0) break;
    parts.push(reply.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
  return { head, body: gunzipSync(Buffer.concat(parts)) };
}

const FIRST = "<p>the first part, sent before the upstream waits</p>";

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

describe("gzip streams with back-pressure", () => {
  let backend: ChunkingBackend;
  let slow: Server;
  let release: (() => void) | undefined;
  let wsgate: WsgateProcess;
  let port: number;
  before(async () => {
    backend = new ChunkingBackend();
    const backendPort = await freePort();
    await backend.listen(backendPort);
    // Sends its first chunk, then the rest only when the test says.
    slow = createServer((socket) => {
      socket.on("error", () => socket.destroy());
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
        socket.write(`${FIRST.length.toString(16)}\r\n${FIRST}\r\n`);
        release = () => socket.end("4\r\nlast\r\n0\r\n\r\n");
      });
    });
    const slowPort = await freePort();
    await new Promise<void>((done) => slow.listen(slowPort, "127.0.0.1", done));
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(`
        gzip on;
        server {
          listen 127.0.0.1:${port};
          root html;
          location /big { proxy_pass http://127.0.0.1:${backendPort}; }
          location /files/ { }
          location /flushed { proxy_buffering off; proxy_pass http://127.0.0.1:${slowPort}; }
        }`),
      files: { "html/files/large.html": TEXT },
    });
  });
  after(async () => {
    release?.();
    await wsgate?.stop();
    await backend?.close();
    await new Promise((done) => slow?.close(done));
  });

  test("a client that does not read holds the upstream back; the body then arrives whole", async () => {
    const client = pausedClient(
      port,
      "GET /big HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    // Long enough for an unthrottled relay to take all of BIG from the backend.
    await sleep(1500);
    assert.equal(backend.finished, false, `the backend wrote ${backend.written} bytes of ${BIG.length}`);
    assert.ok(backend.written < BIG.length);
    const reply = await client.resume();
    const { body } = decoded(reply);
    assert.equal(body.length, BIG.length);
    assert.equal(sha(body), sha(BIG));
    assert.equal(backend.finished, true);
  });

  test("a large file comes compressed and whole", async () => {
    const client = pausedClient(
      port,
      "GET /files/large.html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    const reply = await client.resume();
    const { head, body } = decoded(reply);
    assert.doesNotMatch(head, /Content-Length/i);
    assert.equal(sha(body), sha(TEXT));
    assert.ok(reply.length < TEXT.length / 2, `compressed to ${reply.length} of ${TEXT.length}`);
  });

  test("proxy_buffering off: what the upstream sent so far reaches the client before the body ends", async () => {
    const seen = await new Promise<Buffer>((done, fail) => {
      const socket = connect(port, "127.0.0.1");
      let data = Buffer.alloc(0);
      const timer = setTimeout(() => {
        socket.destroy();
        fail(new Error(`the first part did not come: ${data.toString("latin1")}`));
      }, 5000);
      socket.on("error", () => undefined);
      socket.on("data", (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const end = data.indexOf("\r\n\r\n");
        if (end === -1) return;
        if (inflatedSoFar(dechunkSoFar(data.subarray(end + 4))) === FIRST) {
          clearTimeout(timer);
          socket.destroy();
          done(data);
        }
      });
      socket.write("GET /flushed HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    });
    assert.match(seen.toString("latin1"), /\r\nContent-Encoding: gzip\r\n/);
    release?.();
  });
});

/** What the gzip data received so far inflates to ("" while not even its header is there). */
function inflatedSoFar(body: Buffer): string {
  try {
    return gunzipSync(body, { finishFlush: constants.Z_SYNC_FLUSH }).toString("latin1");
  } catch {
    return "";
  }
}

/** The data of the whole chunks received so far. */
function dechunkSoFar(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const line = data.indexOf("\r\n", at);
    if (line === -1) break;
    const size = parseInt(data.subarray(at, line).toString("latin1"), 16);
    if (!(size > 0) || line + 2 + size + 2 > data.length) break;
    parts.push(data.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
