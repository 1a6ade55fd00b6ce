/**
 * WebSocket traffic through wsgate with the seed's configuration: `ws` peers
 * on both sides (text, binary, fragments, a large message, many connections,
 * ping/pong, close codes), then raw peers for bytes that share a packet with
 * the handshake and for closes that must cross the tunnel.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import {
  frame,
  logLinePattern,
  logLines,
  rawBackend,
  rawClient,
  readFrame,
  seedConf,
  sha256,
  statusOf,
  switchingProtocols,
  upgradeRequest,
  within,
  type Head,
  type RawBackend,
  type WireReader,
} from "./wire.js";

type RawHandler = (socket: Socket, reader: WireReader, head: Head) => Promise<void>;

describe("WebSocket through wsgate", () => {
  let wss: WebSocketServer;
  /** A backend that negotiates a subprotocol and permessage-deflate. */
  let deflating: WebSocketServer;
  let raw: RawBackend;
  let wsgate: WsgateProcess;
  let proxyPort: number;
  /** What the raw backend does for each request path. */
  const rawHandlers = new Map<string, RawHandler>();
  const clients: WebSocket[] = [];

  before(async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(wss, "listening");
    // Echo every message as it came: text as text, binary as binary.
    wss.on("connection", (socket) => {
      socket.on("error", () => socket.terminate());
      socket.on("message", (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
    });
    deflating = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      perMessageDeflate: { threshold: 0 },
      handleProtocols: (protocols) => (protocols.has("chat.v1") ? "chat.v1" : false),
    });
    await once(deflating, "listening");
    deflating.on("connection", (socket) => {
      socket.on("error", () => socket.terminate());
      socket.on("message", (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
    });
    raw = await rawBackend(async (socket, reader) => {
      const head = await reader.head();
      const path = head.startLine.split(" ")[1] ?? "";
      const handler = rawHandlers.get(path);
      if (!handler) throw new Error(`no raw handler for ${path}`);
      await handler(socket, reader, head);
    });
    proxyPort = await freePort();
    const wsPort = (wss.address() as { port: number }).port;
    const rawLocation = `
        location /raw/ {
            proxy_pass http://127.0.0.1:${raw.port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }`;
    const deflatePort = (deflating.address() as { port: number }).port;
    const deflateLocation = `
        location /deflate/ {
            proxy_pass http://127.0.0.1:${deflatePort};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }`;
    wsgate = await startWsgate({ conf: seedConf(proxyPort, wsPort, rawLocation + deflateLocation) });
  });

  after(async () => {
    for (const client of clients) client.terminate();
    await wsgate?.stop();
    for (const socket of wss?.clients ?? []) socket.terminate();
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    for (const socket of deflating?.clients ?? []) socket.terminate();
    await new Promise<void>((resolve) => (deflating ? deflating.close(() => resolve()) : resolve()));
    await raw?.close();
  });

  /** A `ws` client through wsgate, and the backend's side of the same connection. */
  async function open(): Promise<{ client: WebSocket; server: WebSocket }> {
    const serverSide = once(wss, "connection") as Promise<[WebSocket]>;
    const client = await openClient();
    const [server] = await within(serverSide, 3000, "the backend's connection");
    return { client, server };
  }

  async function openClient(): Promise<WebSocket> {
    const client = new WebSocket(`ws://127.0.0.1:${proxyPort}/`);
    clients.push(client);
    await within(once(client, "open"), 3000, "the client's open");
    return client;
  }

  function nextMessage(socket: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
    return within(
      once(socket, "message").then(([data, isBinary]) => ({ data: data as Buffer, isBinary: isBinary as boolean })),
      5000,
      "a message",
    );
  }

  test("a text message comes back as text", async () => {
    const { client } = await open();
    const text = "héllo, wörld ✓";
    client.send(text);
    const reply = await nextMessage(client);
    assert.equal(reply.isBinary, false);
    assert.equal(reply.data.toString("utf8"), text);
    client.close();
  });

  test("a binary message comes back as binary, byte for byte", async () => {
    const { client } = await open();
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1000)]);
    client.send(bytes);
    const reply = await nextMessage(client);
    assert.equal(reply.isBinary, true);
    assert.ok(reply.data.equals(bytes), "the same bytes");
    client.close();
  });

  test("fragmented messages are reassembled by the peers, both ways", async () => {
    const { client, server } = await open();
    const seen: Array<{ data: string; isBinary: boolean }> = [];
    server.on("message", (data, isBinary) => seen.push({ data: (data as Buffer).toString(), isBinary }));
    client.send("frag-", { fin: false });
    client.send("ment-", { fin: false });
    client.send("ed", { fin: true });
    const text = await nextMessage(client);
    assert.deepEqual(seen, [{ data: "frag-ment-ed", isBinary: false }], "the backend got one text message");
    assert.equal(text.data.toString(), "frag-ment-ed");

    client.send(Buffer.from([1, 2, 3]), { binary: true, fin: false });
    client.send(Buffer.from([4, 5]), { binary: true, fin: true });
    const binary = await nextMessage(client);
    assert.equal(binary.isBinary, true);
    assert.deepEqual([...binary.data], [1, 2, 3, 4, 5]);

    // The backend fragments its own message.
    server.send("from ", { fin: false });
    server.send("the ", { fin: false });
    server.send("backend", { fin: true });
    const fromServer = await nextMessage(client);
    assert.equal(fromServer.data.toString(), "from the backend");
    client.close();
  });

  test("an 8 MB message arrives whole (sha256)", async () => {
    const { client } = await open();
    const big = randomBytes(8 * 1024 * 1024);
    client.send(big);
    const reply = await nextMessage(client);
    assert.equal(reply.data.length, big.length);
    assert.equal(sha256(reply.data), sha256(big));
    client.close();
  });

  test("50 concurrent connections each exchange 20 messages, in order", async () => {
    const runs = Array.from({ length: 50 }, async (_, c) => {
      const client = await openClient();
      const sent = Array.from({ length: 20 }, (_, m) => `conn ${c} message ${m} ${randomBytes(m * 7).toString("hex")}`);
      const received: string[] = [];
      const all = new Promise<void>((resolve, reject) => {
        client.on("message", (data) => {
          received.push((data as Buffer).toString());
          if (received.length === sent.length) resolve();
        });
        client.once("close", () => reject(new Error(`connection ${c} closed after ${received.length} messages`)));
      });
      for (const message of sent) client.send(message);
      await within(all, 10_000, `connection ${c}'s echoes`);
      assert.deepEqual(received, sent);
      client.close();
    });
    await Promise.all(runs);
  });

  test("pings and pongs pass through both ways", async () => {
    const { client, server } = await open();
    const serverPing = once(server, "ping");
    const clientPong = once(client, "pong");
    client.ping(Buffer.from("client-ping"));
    const [pingData] = (await within(serverPing, 3000, "the backend's ping")) as [Buffer];
    assert.equal(pingData.toString(), "client-ping");
    const [pongData] = (await within(clientPong, 3000, "the backend's automatic pong")) as [Buffer];
    assert.equal(pongData.toString(), "client-ping");

    const clientPing = once(client, "ping");
    const serverPong = once(server, "pong");
    server.ping(Buffer.from("server-ping"));
    const [fromBackend] = (await within(clientPing, 3000, "the backend's ping at the client")) as [Buffer];
    assert.equal(fromBackend.toString(), "server-ping");
    const [back] = (await within(serverPong, 3000, "the client's automatic pong")) as [Buffer];
    assert.equal(back.toString(), "server-ping");
    client.close();
  });

  test("the client's close code and reason reach the backend unchanged", async () => {
    const { client, server } = await open();
    const serverClosed = once(server, "close");
    const clientClosed = once(client, "close");
    client.close(4001, "bye");
    const [code, reason] = (await within(serverClosed, 3000, "the backend's close")) as [number, Buffer];
    assert.equal(code, 4001);
    assert.equal(reason.toString(), "bye");
    // ws answers with the same code: it comes back through the tunnel too.
    const [echoed] = (await within(clientClosed, 3000, "the client's close")) as [number, Buffer];
    assert.equal(echoed, 4001);
  });

  test("the backend's close code and reason reach the client unchanged", async () => {
    const { client, server } = await open();
    const clientClosed = once(client, "close");
    server.close(4002, "server says bye");
    const [code, reason] = (await within(clientClosed, 3000, "the client's close")) as [number, Buffer];
    assert.equal(code, 4002);
    assert.equal(reason.toString(), "server says bye");
  });

  test("the subprotocol and permessage-deflate are negotiated through wsgate; compressed messages pass", async () => {
    const client = new WebSocket(`ws://127.0.0.1:${proxyPort}/deflate/`, ["chat.v2", "chat.v1"], {
      perMessageDeflate: true,
    });
    clients.push(client);
    await within(once(client, "open"), 3000, "the client's open");
    assert.equal(client.protocol, "chat.v1");
    assert.match(client.extensions, /^permessage-deflate/);
    const text = "compress me ".repeat(10_000);
    client.send(text);
    const reply = await nextMessage(client);
    assert.equal(reply.data.toString(), text);
    client.close();
  });

  test("bytes in the handshake's packet arrive, both ways", async () => {
    const clientFrame = frame(0x1, Buffer.from("sent with the request"), Buffer.from([0x12, 0x34, 0x56, 0x78]));
    const serverFrame = frame(0x2, Buffer.from([0, 1, 2, 253, 254, 255]));
    let backendGot: Buffer | undefined;
    const backendDone = new Promise<void>((resolve, reject) => {
      rawHandlers.set("/raw/same-packet", async (socket, reader, head) => {
        try {
          assert.equal(head.startLine, "GET /raw/same-packet HTTP/1.1");
          // The 101 and the first frame in one write.
          socket.write(Buffer.concat([Buffer.from(switchingProtocols(), "latin1"), serverFrame]));
          backendGot = (await readFrame(reader)).wire;
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    const { socket, reader } = await rawClient(proxyPort);
    try {
      // The request and the first frame in one write.
      socket.write(Buffer.concat([Buffer.from(upgradeRequest(proxyPort, "/raw/same-packet"), "latin1"), clientFrame]));
      const head = await reader.head();
      assert.equal(statusOf(head), 101);
      const got = await readFrame(reader);
      assert.ok(got.wire.equals(serverFrame), `the backend's frame: ${got.wire.toString("hex")}`);
      await within(backendDone, 3000, "the client's frame at the backend");
      assert.ok(backendGot!.equals(clientFrame), `the client's frame: ${backendGot!.toString("hex")}`);
    } finally {
      socket.destroy();
    }
  });

  test("frames the client sends before the 101 (more than 64 KB) all reach the backend after it", async () => {
    const frames = Buffer.concat(
      Array.from({ length: 40 }, (_, i) => frame(0x2, randomBytes(4000 + i), randomBytes(4))),
    );
    const backendGot = new Promise<Buffer>((resolve, reject) => {
      rawHandlers.set("/raw/early", async (socket, reader) => {
        try {
          // Answer late (a sleep on purpose): everything the client sent meanwhile waits in wsgate.
          await new Promise((done) => setTimeout(done, 150));
          assert.equal(reader.available, 0, "nothing passed to the backend before its 101");
          socket.write(switchingProtocols());
          resolve(await reader.bytes(frames.length));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(upgradeRequest(proxyPort, "/raw/early"));
      socket.write(frames);
      assert.equal(statusOf(await reader.head()), 101);
      const got = await within(backendGot, 5000, "the early frames at the backend");
      assert.equal(sha256(got), sha256(frames));
    } finally {
      socket.destroy();
    }
  });

  /** A raw tunnel: the raw backend answers 101 and hands over its socket. */
  async function rawTunnel(path: string): Promise<{ client: Socket; clientReader: WireReader; backend: Socket }> {
    const backendSocket = new Promise<Socket>((resolve) => {
      rawHandlers.set(path, async (socket) => {
        socket.write(switchingProtocols());
        resolve(socket);
      });
    });
    const { socket, reader } = await rawClient(proxyPort);
    socket.write(upgradeRequest(proxyPort, path));
    assert.equal(statusOf(await reader.head()), 101);
    const backend = await within(backendSocket, 3000, "the backend's connection");
    // A byte each way: the tunnel is up.
    backend.write("x");
    assert.equal((await reader.bytes(1)).toString(), "x");
    return { client: socket, clientReader: reader, backend };
  }

  async function tunnelLogLine(path: string): Promise<string> {
    const find = (): string | undefined =>
      logLines(wsgate.accessLog("test_websocket.access.log")).find((line) => line.includes(`"GET ${path} HTTP/1.1"`));
    await waitFor(() => find() !== undefined, 3000, `the log line of ${path}`);
    return find()!;
  }

  test("the backend's close closes the client, and the tunnel is logged with 101", async () => {
    const { clientReader, backend } = await rawTunnel("/raw/backend-closes");
    backend.destroy();
    await within(clientReader.closed, 3000, "the client's socket closing");
    const line = await tunnelLogLine("/raw/backend-closes");
    assert.match(line, logLinePattern(`127.0.0.1 - - [TIME] "GET /raw/backend-closes HTTP/1.1" 101 1 "-" "-" "-"`));
  });

  test("the client's close closes the backend, and the tunnel is logged with 101", async () => {
    const { client, backend } = await rawTunnel("/raw/client-closes");
    const backendClosed = once(backend, "close");
    client.destroy();
    await within(backendClosed, 3000, "the backend's socket closing");
    const line = await tunnelLogLine("/raw/client-closes");
    assert.match(line, logLinePattern(`127.0.0.1 - - [TIME] "GET /raw/client-closes HTTP/1.1" 101 1 "-" "-" "-"`));
  });
});
