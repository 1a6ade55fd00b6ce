/**
 * A large file through wsgate: every byte arrives, in order, to a reader
 * that stops reading for a while (memory stays bounded meanwhile: the file
 * is read as the socket drains, never held whole); a range deep inside the
 * file is exact; and a client that goes away mid-file leaves no open file
 * behind.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, writeSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { openTempDir, startStaticPeer, type StaticPeer } from "./harness.js";
import { until } from "../support/wait.js";

const SIZE = 48 * 1024 * 1024;

/** Resident memory of a process, in bytes. */
function rss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "latin1")
    .split("\n")
    .find((text) => text.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? 0) * 1024;
}

/** How many of the process's descriptors point at `path`. */
function openCount(pid: number, path: string): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

/** Split a reply into head and body once `length` body bytes have arrived. */
function readReply(socket: Socket, onProgress?: (bodyBytes: number) => void): Promise<{ head: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("reply not complete within 20 s"));
    }, 20_000);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      onProgress?.(total);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      resolve({ head: all.toString("latin1", 0, end), body: all.subarray(end + 4) });
    });
    socket.on("error", () => undefined);
  });
}

describe("a large file", () => {
  let docroot: string;
  let file: string;
  let digest: string;
  let peer: StaticPeer;
  before(async () => {
    docroot = openTempDir("large");
    file = join(docroot, "big.bin");
    const hash = createHash("sha256");
    const fd = openSync(file, "w", 0o644);
    for (let written = 0; written < SIZE; written += 1024 * 1024) {
      const block = randomBytes(1024 * 1024);
      hash.update(block);
      writeSync(fd, block);
    }
    closeSync(fd);
    digest = hash.digest("hex");
    peer = await startStaticPeer(
      "wsgate",
      `log_format sent '$status $body_bytes_sent'; server { listen 127.0.0.1:PORT; root ${docroot}; access_log logs/sent.log sent; }`,
    );
  });
  after(async () => {
    await peer?.stop();
    if (docroot) rmSync(docroot, { recursive: true, force: true });
  });

  test("a reader that stops: every byte arrives, and memory stays bounded meanwhile", async () => {
    const baseline = rss(peer.pid);
    const socket = connect(peer.port, "127.0.0.1");
    let paused = false;
    const reply = readReply(socket, (bytes) => {
      if (!paused && bytes > 4 * 1024 * 1024) {
        paused = true;
        socket.pause();
      }
    });
    socket.write("GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    await until(() => paused, 10_000, "the first megabytes arrived");
    // While the reader is stopped, wsgate must hold back too: its memory does not grow by the file (a sleep on
    // purpose: nothing may happen in this while).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const held = rss(peer.pid) - baseline;
    assert.ok(held < 24 * 1024 * 1024, `wsgate grew by ${held} bytes while the reader was stopped`);
    assert.equal(openCount(peer.pid, file), 1, "the file is open while it is sent");
    socket.resume();
    const { head, body } = await reply;
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, new RegExp(`\r\nContent-Length: ${SIZE}\r\n`));
    assert.equal(body.length, SIZE);
    assert.equal(createHash("sha256").update(body).digest("hex"), digest);
    await until(() => openCount(peer.pid, file) === 0, 2000, "the file is closed after the response");
  });

  test("a range deep in the file is exact", async () => {
    const start = SIZE - 3 * 1024 * 1024 - 17;
    const end = SIZE - 5;
    const socket = connect(peer.port, "127.0.0.1");
    const reply = readReply(socket);
    socket.write(`GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=${start}-${end}\r\nConnection: close\r\n\r\n`);
    const { head, body } = await reply;
    assert.match(head, /^HTTP\/1\.1 206 Partial Content\r\n/);
    assert.match(head, new RegExp(`\r\nContent-Range: bytes ${start}-${end}/${SIZE}(\r\n|$)`));
    const fd = openSync(file, "r");
    const expected = Buffer.alloc(end - start + 1);
    try {
      let read = 0;
      while (read < expected.length) {
        const n = readSync(fd, expected, read, expected.length - read, start + read);
        if (n === 0) break;
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    assert.ok(body.equals(expected), "the bytes of the range");
  });

  test("a client that goes away mid-file: the file is closed, the log says what was sent", async () => {
    const socket = connect(peer.port, "127.0.0.1");
    socket.on("error", () => undefined);
    let received = 0;
    const gone = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > 2 * 1024 * 1024) {
          socket.destroy();
          resolve();
        }
      });
    });
    socket.write("GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    await gone;
    await until(() => openCount(peer.pid, file) === 0, 3000, "wsgate closed the file");
    await until(() => peer.readLog("sent.log").trim().split("\n").length >= 3, 3000, "the request's log line");
    const last = peer.readLog("sent.log").trim().split("\n").pop()!;
    const [status, sent] = last.split(" ").map(Number) as [number, number];
    assert.equal(status, 200);
    assert.ok(sent > 0 && sent < SIZE, `body_bytes_sent ${sent} of ${SIZE}`);
  });
});
