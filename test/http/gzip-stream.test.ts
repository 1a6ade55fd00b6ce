/**
 * The gzip filter's body step streams: a proxied chunked body larger than
 * every buffer on the way waits for a client that does not read (the
 * upstream is held back through zlib's input and the client's socket) and
 * arrives whole once it reads; a large file comes compressed and whole.
 * The bodies are compared after de-chunking and gunzip with the originals.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync } from "node:zlib";
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

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

describe("gzip streams with back-pressure", () => {
  let backend: ChunkingBackend;
  let wsgate: WsgateProcess;
  let port: number;
  before(async () => {
    backend = new ChunkingBackend();
    const backendPort = await freePort();
    await backend.listen(backendPort);
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(`
        gzip on;
        server {
          listen 127.0.0.1:${port};
          root html;
          location /big { proxy_pass http://127.0.0.1:${backendPort}; }
          location /files/ { }
        }`),
      files: { "html/files/large.html": TEXT },
    });
  });
  after(async () => {
    await wsgate?.stop();
    await backend?.close();
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
});
