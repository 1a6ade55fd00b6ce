/**
 * WebSocket traffic through the seed's configuration, with real `ws` peers and
 * raw sockets: what goes in comes out, frame for frame and byte for byte.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { linesEventually } from "../support/sockets.js";
import { seedHttp } from "../support/seed-config.js";
import { eventWithin, withTimeout } from "../support/wait.js";
import { httpConf, startWsgate, type WsgateProcess, freePort } from "../support/proxy.js";

/** The seed configuration in front of `backend`, on a free port. */
async function seedOn(backend: number): Promise<{ wsgate: WsgateProcess; port: number }> {
  const port = await freePort();
  const wsgate = await startWsgate({ conf: httpConf(seedHttp(backend, `127.0.0.1:${port}`)) });
  return { wsgate, port };
}

describe("WebSocket through wsgate, with ws peers", () => {
  let backend: WebSocketServer;
  let wsgate: WsgateProcess;
  let url: string;
  const serverSide: WebSocket[] = [];

  before(async () => {
    backend = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    await eventWithin(backend, "listening", 2000);
    backend.on("connection", (socket) => {
      serverSide.push(socket);
      // An exact echo: text as text, binary as binary, fragments reassembled by ws.
      socket.on("message", (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
    });
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    const started = await seedOn(address.port);
    wsgate = started.wsgate;
    url = `ws://127.0.0.1:${started.port}/`;
  });

  after(async () => {
    await wsgate?.stop();
    await new Promise((resolve) => backend?.close(resolve));
  });

  async function open(): Promise<WebSocket> {
    const client = new WebSocket(url, { perMessageDeflate: false });
    await eventWithin(client, "open", 3000);
    return client;
  }

  async function roundTrip(client: WebSocket, data: Buffer | string, binary: boolean): Promise<Buffer> {
    const reply = eventWithin<[Buffer, boolean]>(client, "message", 10_000);
    client.send(data, { binary });
    const [message, isBinary] = await reply;
    assert.equal(isBinary, binary);
    return message;
  }

  test("text and binary messages come back exactly", async () => {
    const client = await open();
    assert.equal((await roundTrip(client, "hello", false)).toString(), "hello");
    const bytes = randomBytes(1000);
    assert.deepEqual(await roundTrip(client, bytes, true), bytes);
    client.close();
  });

  test("a fragmented message is reassembled by the far end", async () => {
    const client = await open();
    const reply = eventWithin<[Buffer, boolean]>(client, "message", 5000);
    client.send("frag-", { fin: false });
    client.send("ment-", { fin: false });
    client.send("ed", { fin: true });
    assert.equal((await reply)[0].toString(), "frag-ment-ed");
    client.close();
  });

  test("an 8 MB message keeps every byte", async () => {
    const client = await open();
    const big = randomBytes(8 * 1024 * 1024);
    const echoed = await roundTrip(client, big, true);
    assert.equal(createHash("sha256").update(echoed).digest("hex"), createHash("sha256").update(big).digest("hex"));
    client.close();
  });

  test("50 connections x 20 messages, concurrently", async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => open()));
    await Promise.all(
      clients.map(async (client, i) => {
        for (let n = 0; n < 20; n++) {
          const text = `client ${i} message ${n}`;
          assert.equal((await roundTrip(client, text, false)).toString(), text);
        }
        client.close();
      }),
    );
  });

  test("pings and pongs pass through both ways", async () => {
    const client = await open();
    const pong = eventWithin<[Buffer]>(client, "pong", 3000);
    client.ping("from-client");
    assert.equal((await pong)[0].toString(), "from-client");
    const server = serverSide[serverSide.length - 1]!;
    const ping = eventWithin<[Buffer]>(client, "ping", 3000);
    server.ping("from-server");
    assert.equal((await ping)[0].toString(), "from-server");
    client.close();
  });

  test("close codes and reasons pass unchanged, both ways", async () => {
    const client = await open();
    const server = serverSide[serverSide.length - 1]!;
    const serverClose = eventWithin<[number, Buffer]>(server, "close", 3000);
    client.close(4001, "bye");
    const [code, reason] = await serverClose;
    assert.equal(code, 4001);
    assert.equal(reason.toString(), "bye");

    const other = await open();
    const otherServer = serverSide[serverSide.length - 1]!;
    const clientClose = eventWithin<[number, Buffer]>(other, "close", 3000);
    otherServer.close(4002, "server says bye");
    const [code2, reason2] = await clientClose;
    assert.equal(code2, 4002);
    assert.equal(reason2.toString(), "server says bye");
  });
});

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = createHash("sha1")
  .update(KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
  .digest("base64");
const HANDSHAKE = `GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
/** A masked client text frame "ping!" and an unmasked server text frame "pong!". */
const CLIENT_FRAME = Buffer.from([
  0x81,
  0x85,
  1,
  2,
  3,
  4,
  ...Buffer.from("ping!").map((b, i) => b ^ [1, 2, 3, 4][i % 4]!),
]);
const SERVER_FRAME = Buffer.concat([Buffer.from([0x81, 0x05]), Buffer.from("pong!")]);

/** A raw backend whose behaviour each test sets. */
async function rawBackend(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address && typeof address === "object");
  return { server, port: address.port };
}

/** Read from `socket` until `done(bytes)` holds. */
function readUntil(socket: Socket, done: (bytes: Buffer) => boolean, ms = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let bytes = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`timed out with ${JSON.stringify(bytes.toString("latin1"))}`)), ms);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      if (done(bytes)) {
        clearTimeout(timer);
        socket.off("data", onData);
        resolve(bytes);
      }
    };
    socket.on("data", onData);
  });
}

describe("WebSocket through wsgate, with raw sockets", () => {
  test("bytes in the same packet as the handshake are delivered, both ways", async () => {
    let backendSaw = Buffer.alloc(0);
    let sawClientFrame: () => void = () => undefined;
    const clientFrameArrived = new Promise<void>((resolve) => (sawClientFrame = resolve));
    const { server, port } = await rawBackend((socket) => {
      socket.on("data", (chunk: Buffer) => {
        const first = backendSaw.length === 0;
        backendSaw = Buffer.concat([backendSaw, chunk]);
        if (backendSaw.includes(CLIENT_FRAME)) sawClientFrame();
        // The 101 and the first server frame in one write.
        if (first)
          socket.write(
            Buffer.concat([
              Buffer.from(
                `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`,
              ),
              SERVER_FRAME,
            ]),
          );
      });
    });
    const { wsgate, port: proxyPort } = await seedOn(port);
    try {
      const client = connect(proxyPort, "127.0.0.1");
      await eventWithin(client, "connect", 2000);
      // The handshake and the first client frame in one write.
      client.write(Buffer.concat([Buffer.from(HANDSHAKE), CLIENT_FRAME]));
      const reply = await readUntil(client, (bytes) => bytes.includes(SERVER_FRAME));
      assert.match(reply.toString("latin1"), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      await withTimeout(clientFrameArrived, 3000, "the client's first frame at the backend");
      client.destroy();
    } finally {
      await wsgate.stop();
      server.close();
    }
  });

  for (const status of [426, 400, 200]) {
    test(`an upgrade answered with ${status} is an HTTP response, and the connection serves the next request`, async () => {
      const { server, port } = await rawBackend((socket) => {
        socket.once("data", (chunk: Buffer) => {
          const upgrade = /\r\nupgrade: websocket/i.test(chunk.toString("latin1"));
          const body = upgrade ? `no upgrade (${status})` : "plain";
          socket.end(`HTTP/1.1 ${upgrade ? status : 200} X\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        });
      });
      const { wsgate, port: proxyPort } = await seedOn(port);
      try {
        const client = connect(proxyPort, "127.0.0.1");
        await eventWithin(client, "connect", 2000);
        client.write(HANDSHAKE);
        const first = await readUntil(client, (bytes) => bytes.includes(`no upgrade (${status})`));
        assert.match(first.toString("latin1"), new RegExp(`^HTTP/1\\.1 ${status} X\\r\\n`));
        assert.match(first.toString("latin1"), /\r\nConnection: keep-alive\r\n/);
        client.write("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
        const second = await readUntil(client, (bytes) => bytes.toString("latin1").endsWith("plain"));
        assert.match(second.toString("latin1"), /^HTTP\/1\.1 200 X\r\n/);
        client.destroy();
      } finally {
        await wsgate.stop();
        server.close();
      }
    });
  }

  for (const side of ["backend", "client"] as const) {
    test(`when the ${side} closes, the other side is closed and the tunnel is logged with 101`, async () => {
      let backendSocket: Socket | undefined;
      let backendGone!: () => void;
      const backendClosed = new Promise<void>((resolve) => (backendGone = resolve));
      const { server, port } = await rawBackend((socket) => {
        backendSocket = socket;
        socket.once("close", () => backendGone());
        socket.once("data", () =>
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`,
          ),
        );
      });
      const { wsgate, port: proxyPort } = await seedOn(port);
      try {
        const client = connect(proxyPort, "127.0.0.1");
        client.on("error", () => undefined);
        await eventWithin(client, "connect", 2000);
        client.write(HANDSHAKE);
        await readUntil(client, (bytes) => bytes.includes("\r\n\r\n"));
        const clientClosed = eventWithin(client, "close", 3000);
        if (side === "backend") backendSocket!.destroy();
        else client.destroy();
        await Promise.all([clientClosed, backendClosed]);
        await linesEventually(() => wsgate.accessLog(), 1);
        assert.match(wsgate.accessLog(), /"GET \/ HTTP\/1\.1" 101 0 /);
      } finally {
        await wsgate.stop();
        server.close();
      }
    });
  }
});
