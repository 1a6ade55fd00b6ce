/**
 * The tunnel over TLS keeps what it keeps over TCP: a client that stops
 * reading makes wsgate stop reading from the backend (memory bounded), every
 * byte arrives once it reads again, and a side that half-closes has what it
 * sent delivered before both are closed (a TLS close_notify, then FIN).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { freePort } from "../support/sockets.js";
import { seedHttp } from "../support/seed-config.js";
import { eventWithin, startWsgate, type Wsgate } from "../flow/harness.js";
import { makeCerts, opensslSkip, type TestCerts } from "./certs.js";

const HANDSHAKE =
  "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? 0);
}

/** A TLS client through the tunnel, with the bytes after the 101 head. */
async function tunnelClient(port: number): Promise<{ socket: TLSSocket; rest: Buffer }> {
  const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "a.test" });
  socket.on("error", () => undefined);
  await eventWithin(socket, "secureConnect", 3000);
  socket.write(HANDSHAKE);
  let head = Buffer.alloc(0);
  for (;;) {
    const [chunk] = await eventWithin<[Buffer]>(socket, "data", 3000);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end !== -1) return { socket, rest: head.subarray(end + 4) };
  }
}

describe("the tunnel over TLS: back-pressure and half-close", { skip: opensslSkip() }, () => {
  let certs: TestCerts;
  let wsgate: Wsgate;
  let backend: Server;
  let proxyPort: number;
  let onTunnel: (socket: Socket) => void = () => undefined;

  before(async () => {
    certs = makeCerts();
    backend = createServer((socket) => {
      socket.on("error", () => socket.destroy());
      socket.once("data", () => {
        socket.write(SWITCH);
        onTunnel(socket);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    proxyPort = await freePort();
    wsgate = await startWsgate(
      `ssl_certificate ${certs.aCrt}; ssl_certificate_key ${certs.aKey};\n` +
        seedHttp(address.port, `127.0.0.1:${proxyPort} ssl`),
      { main: "master_process off;" },
    );
  });

  after(async () => {
    await wsgate?.stop();
    backend?.close();
    certs?.remove();
  });

  test("a client that stops reading: the backend is held back, memory stays bounded, every byte arrives", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    const total = 64; // MB the backend tries to send
    let written = 0;
    let backendBlocked = false;
    const backendDone = new Promise<string>((resolve) => {
      onTunnel = (socket) => {
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
      };
    });
    const { socket: client, rest } = await tunnelClient(proxyPort);
    client.pause();
    const pid = wsgate.process.pid!;
    const before = rssKb(pid);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const during = rssKb(pid);
    assert.ok(backendBlocked, "the backend's writes were held back");
    assert.ok(written < total / 2, `the backend got to write ${written} MB of ${total} while nobody read`);
    assert.ok(during - before < 48 * 1024, `wsgate grew by ${during - before} KB while the client did not read`);

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
      onTunnel = (socket) => {
        let bytes = 0;
        socket.on("data", (data: Buffer) => (bytes += data.length));
        socket.once("close", () => resolve(bytes));
      };
    });
    const { socket: client } = await tunnelClient(proxyPort);
    const clientClosed = eventWithin(client, "close", 5000);
    client.end(payload);
    assert.equal(await got, payload.length);
    await clientClosed;
  });

  test("a backend that half-closes right after sending: the client gets every byte, then both close", async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 0x42);
    onTunnel = (socket) => socket.end(payload);
    const { socket: client, rest } = await tunnelClient(proxyPort);
    let bytes = rest.length;
    client.on("data", (data: Buffer) => (bytes += data.length));
    await eventWithin(client, "close", 5000);
    assert.equal(bytes, payload.length);
  });
});
