/**
 * The tunnel's hot-path cases, shared by the plain and the TLS suites: a
 * reader that stops reading makes wsgate stop reading from the writer (its
 * memory does not grow with what the writer sends), every byte still arrives
 * once the reader resumes, and a side that half-closes has what it sent
 * delivered before both are closed.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { eventWithin } from "../support/wait.js";

const HANDSHAKE =
  "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? 0);
}

/** A raw backend: answers the upgrade with a 101, then hands the socket to the test. */
export async function upgradingBackend(onTunnel: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", () => {
      socket.write(SWITCH);
      onTunnel(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address && typeof address === "object");
  return { server, port: address.port };
}

/** Sends the upgrade on a connected socket; resolves with the bytes after the 101 head. */
export async function upgradeThrough(socket: Socket): Promise<Buffer> {
  socket.write(HANDSHAKE);
  let head = Buffer.alloc(0);
  for (;;) {
    const [chunk] = await eventWithin<[Buffer]>(socket, "data", 3000);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end !== -1) return head.subarray(end + 4);
  }
}

export interface TunnelCaseTarget {
  /** Replaces what the backend does with the next tunnel. */
  onTunnel(handler: (socket: Socket) => void): void;
  /** A client through wsgate, upgraded, with the bytes after the 101 head. */
  client(): Promise<{ socket: Socket; rest: Buffer }>;
  /** The process whose memory is watched. */
  pid(): number;
  /** MB the backend tries to send to a client that does not read. */
  readonly totalMb: number;
  /** How many of them may be written while nobody reads. */
  readonly heldBackMb: number;
  /** How much wsgate may grow meanwhile. */
  readonly maxGrowthKb: number;
}

/** The three cases, as tests of the enclosing `describe`. */
export function tunnelCases(target: TunnelCaseTarget): void {
  test("a client that stops reading: the backend is held back, memory stays bounded, every byte arrives", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    const total = target.totalMb;
    let written = 0;
    let backendBlocked = false;
    const backendDone = new Promise<string>((resolve) => {
      target.onTunnel((socket) => {
        const hash = createHash("sha256");
        const pump = (): void => {
          while (written < total) {
            written++;
            hash.update(chunk);
            if (!socket.write(chunk)) {
              backendBlocked = true;
              socket.once("drain", pump);
              return;
            }
          }
          socket.end();
          resolve(hash.digest("hex"));
        };
        pump();
      });
    });
    const { socket: client, rest } = await target.client();
    client.pause();
    const pid = target.pid();
    const before = rssKb(pid);
    // A sleep on purpose: while nobody reads for this long, wsgate's memory must not grow.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const during = rssKb(pid);
    assert.ok(backendBlocked, "the backend's writes were held back");
    assert.ok(written < target.heldBackMb, `the backend got to write ${written} MB of ${total} while nobody read`);
    assert.ok(
      during - before < target.maxGrowthKb,
      `wsgate grew by ${during - before} KB while the client did not read`,
    );

    const hash = createHash("sha256").update(rest);
    let received = rest.length;
    client.on("data", (data: Buffer) => {
      hash.update(data);
      received += data.length;
    });
    const closed = eventWithin(client, "close", 30_000);
    client.resume();
    const sent = await backendDone;
    await closed;
    assert.equal(received, total * chunk.length, "every byte arrived once the client read");
    assert.equal(hash.digest("hex"), sent);
  });

  test("a client that half-closes right after sending: the backend gets every byte, then both close", async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 0x41);
    const got = new Promise<number>((resolve) => {
      target.onTunnel((socket) => {
        let bytes = 0;
        socket.on("data", (data: Buffer) => (bytes += data.length));
        socket.once("close", () => resolve(bytes));
      });
    });
    const { socket: client } = await target.client();
    const clientClosed = eventWithin(client, "close", 5000);
    client.end(payload);
    assert.equal(await got, payload.length);
    await clientClosed;
  });

  test("a backend that half-closes right after sending: the client gets every byte, then both close", async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 0x42);
    target.onTunnel((socket) => socket.end(payload));
    const { socket: client, rest } = await target.client();
    let bytes = rest.length;
    client.on("data", (data: Buffer) => (bytes += data.length));
    await eventWithin(client, "close", 5000);
    assert.equal(bytes, payload.length);
  });
}
