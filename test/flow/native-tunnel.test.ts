/**
 * Plain tunnels on whichever path this run takes: the native tunnel
 * (native/tunnel.c) when it is built, the TypeScript tunnel with
 * WSGATE_NATIVE_TUNNEL=off (scripts/test.sh runs this file both ways). The
 * first test says which path ran, through the debug line wsgate writes for
 * each tunnel it hands to the addon; the others hold on both: bytes exact
 * both ways with the access log's counts, a backend that stops reading, leftovers of the handshake first
 * and in order, a reset from either side, the send timeouts, and the
 * graceful shutdown with tunnels open.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type Server, type Socket } from "node:net";
import { freePort, ROOT, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { eventWithin, until } from "../support/wait.js";

const HANDSHAKE = "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
const NATIVE_LINE = /\[debug\] \d+#\d+: upgraded connection handed to the native tunnel\n/g;

const off = process.env.WSGATE_NATIVE_TUNNEL === "off";
const built = existsSync(join(ROOT, "build", "Release", "wsgate_tunnel.node"));

/** What the backend does with the tunnel of a path, after its 101 (`extra`: bytes in the 101's own write). */
type Behaviour = { extra?: Buffer; then: (socket: Socket) => void };

function conf(port: number, backend: number, main = ""): string {
  const proxied = `proxy_pass http://127.0.0.1:${backend}; proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade;`;
  return `pid logs/nginx.pid;
error_log logs/error.log debug;
${main}
events {}
http {
  log_format counts '$request_uri $status $bytes_sent $upstream_bytes_received';
  access_log logs/access.log counts;
  server {
    listen 127.0.0.1:${port};
    location / { ${proxied} proxy_read_timeout 5s; send_timeout 1s; proxy_send_timeout 1s; }
    location /framed { ${proxied} wsgate_max_message 1m; }
    location /slow { ${proxied} proxy_send_timeout 60s; }
  }
}
`;
}

/** The request's line of the access log, once written: [bytes_sent, upstream_bytes_received]. */
async function loggedCounts(wsgate: WsgateProcess, path: string): Promise<[number, number]> {
  const line = new RegExp(`^${path} 101 (\\d+) (\\d+)$`, "m");
  const match = await until(() => line.exec(wsgate.accessLog()) ?? undefined, 5000, `the access log line of ${path}`);
  return [Number(match[1]), Number(match[2])];
}

describe("plain tunnels, on the native or the TypeScript path", () => {
  let wsgate: WsgateProcess;
  let backend: Server;
  let port: number;
  const behaviours = new Map<string, Behaviour>();
  let sequence = 0;
  /** Every socket of the tests, both ends, destroyed at the end so that none keeps the file's process alive. */
  const sockets = new Set<Socket>();

  before(async () => {
    backend = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.off("data", onData);
        const path = /^GET (\S+)/.exec(head.toString("latin1"))![1]!;
        const behaviour = behaviours.get(path)!;
        socket.write(behaviour.extra ? Buffer.concat([Buffer.from(SWITCH), behaviour.extra]) : SWITCH);
        const rest = head.subarray(end + 4);
        behaviour.then(socket);
        if (rest.length > 0) socket.emit("data", rest);
      };
      socket.on("data", onData);
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    port = await freePort();
    wsgate = await startWsgate({ conf: conf(port, address.port, "worker_shutdown_timeout 1s;") });
  });

  after(async () => {
    await wsgate?.stop("SIGKILL");
    for (const socket of sockets) socket.destroy();
    backend?.close();
  });

  /** A tunnel to a new path with this behaviour; `extra` goes in the handshake's own write. */
  async function open(
    behaviour: Behaviour,
    extra?: Buffer,
    prefix = "/t",
  ): Promise<{ socket: Socket; rest: Buffer; path: string }> {
    const path = `${prefix}${++sequence}`;
    behaviours.set(path, behaviour);
    const socket = connect(port, "127.0.0.1");
    sockets.add(socket);
    socket.on("error", () => undefined);
    await eventWithin(socket, "connect", 3000);
    const request = Buffer.from(`GET ${path} HTTP/1.1\r\n${HANDSHAKE}`);
    socket.write(extra ? Buffer.concat([request, extra]) : request);
    let head = Buffer.alloc(0);
    for (;;) {
      const [chunk] = await eventWithin<[Buffer]>(socket, "data", 3000);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end !== -1) return { socket, rest: head.subarray(end + 4), path };
    }
  }

  test(
    "the path taken: the native tunnel when it is built, not with WSGATE_NATIVE_TUNNEL=off, never for a location that follows frames",
    {
      skip: !built && !off ? "the native tunnel is not built (build/Release/wsgate_tunnel.node is absent)" : false,
    },
    async () => {
      const before = wsgate.errorLog().match(NATIVE_LINE)?.length ?? 0;
      const plain = await open({ then: (socket) => socket.pipe(socket) });
      plain.socket.write("ping");
      await eventWithin(plain.socket, "data", 3000);
      const framed = await open({ then: (socket) => socket.pipe(socket) }, undefined, "/framed");
      plain.socket.end();
      framed.socket.end();
      await loggedCounts(wsgate, plain.path);
      const after = wsgate.errorLog().match(NATIVE_LINE)?.length ?? 0;
      assert.equal(
        after - before,
        off ? 0 : 1,
        off ? "no tunnel went native" : "the plain tunnel, and only it, went native",
      );
    },
  );

  test("16 MB each way at once arrive byte for byte, and the access log counts them", async () => {
    const size = 16 * 1024 * 1024;
    const data = (seed: number): Buffer => {
      const chunk = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4) chunk.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
      return chunk;
    };
    const up = data(1);
    const down = data(2);
    const digest = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
    let backendGot = Promise.resolve("");
    const { socket, rest, path } = await open({
      then: (peer) => {
        const chunks: Buffer[] = [];
        let got = 0;
        const written = new Promise<void>((resolve) => peer.write(down, () => resolve()));
        backendGot = new Promise((resolve) => {
          peer.on("data", (chunk: Buffer) => {
            chunks.push(chunk);
            got += chunk.length;
            if (got === size) resolve(digest(Buffer.concat(chunks)));
          });
        });
        // Ended once both ways are through: when a side ends, the tunnel closes (nginx), whatever is in flight.
        void Promise.all([written, backendGot]).then(() => peer.end());
      },
    });
    const received: Buffer[] = [rest];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.write(up);
    await eventWithin(socket, "end", 20_000);
    assert.equal(await backendGot, digest(up), "the backend got every byte of the client's 16 MB, in order");
    assert.equal(digest(Buffer.concat(received)), digest(down), "the client got every byte of the backend's 16 MB");
    socket.destroy();
    const [sent, fromUpstream] = await loggedCounts(wsgate, path);
    assert.equal(fromUpstream, SWITCH.length + size, "$upstream_bytes_received: the 101 and the 16 MB");
    assert.ok(sent > size && sent < size + 1024, `$bytes_sent: the 101 head and the 16 MB (${sent})`);
  });

  test("thousands of bytes sent with the handshake and with the 101 come first and in order, both ways", async () => {
    const early = Buffer.alloc(24_000, "e");
    const late = Buffer.alloc(6_000, "l");
    const fromBackend = Buffer.alloc(20_000, "b");
    let backendGot = Promise.resolve(Buffer.alloc(0));
    const { socket, rest } = await open(
      {
        extra: fromBackend,
        then: (peer) => {
          const chunks: Buffer[] = [];
          backendGot = new Promise((resolve) =>
            peer.on("data", (chunk: Buffer) => {
              chunks.push(chunk);
              const all = Buffer.concat(chunks);
              if (all.length >= early.length + late.length) resolve(all);
            }),
          );
          setTimeout(() => peer.write("after"), 200);
        },
      },
      early,
    );
    socket.write(late);
    const received: Buffer[] = [rest];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    await until(() => Buffer.concat(received).length >= fromBackend.length + 5, 5000, "the backend's bytes");
    assert.deepEqual(Buffer.concat(received), Buffer.concat([fromBackend, Buffer.from("after")]));
    assert.deepEqual(await backendGot, Buffer.concat([early, late]));
    socket.destroy();
  });

  test("a backend that stops reading: the client is held back, and every byte arrives once it reads", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x33);
    const total = 64;
    let peer: Socket | undefined;
    const hash = createHash("sha256");
    let got = 0;
    const { socket } = await open(
      {
        then: (s) => {
          peer = s;
          s.pause();
          s.on("data", (data: Buffer) => {
            hash.update(data);
            got += data.length;
          });
        },
      },
      undefined,
      "/slow",
    );
    let written = 0;
    const sent = createHash("sha256");
    const pump = (): void => {
      while (written < total) {
        written++;
        sent.update(chunk);
        if (!socket.write(chunk)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    pump();
    // A sleep on purpose: while the backend reads nothing for this long, the client must be held back.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(written < total / 2, `the client got to write ${written} MB of ${total} while the backend read nothing`);
    peer!.resume();
    await until(() => got === total * chunk.length || undefined, 20_000, "every byte at the backend");
    assert.equal(hash.digest("hex"), sent.digest("hex"));
    socket.destroy();
  });

  for (const side of ["client", "backend"] as const) {
    test(`a reset from the ${side} closes the other side, and the tunnel is logged`, async () => {
      let peer: Socket | undefined;
      const { socket, path } = await open({ then: (s) => (peer = s) });
      socket.write("x");
      await until(() => peer, 3000, "the backend's socket");
      const [resetter, other] = side === "client" ? [socket, peer!] : [peer!, socket];
      const otherClosed = eventWithin(other, "close", 5000);
      resetter.resetAndDestroy();
      await otherClosed;
      await loggedCounts(wsgate, path);
      if (side === "backend") {
        // Either tunnel reads the reset and writes nginx's line (the native one with the errno it got).
        const line = new RegExp(
          `\\[error\\] \\d+#\\d+: \\*\\d+ recv\\(\\) failed \\(104: Connection reset by peer\\) while proxying ` +
            `upgraded connection, client: 127\\.0\\.0\\.1, server: [^,]*, request: "GET ${path} HTTP/1\\.1", ` +
            `upstream: "http://127\\.0\\.0\\.1:\\d+${path}", host: "h"`,
        );
        assert.match(wsgate.errorLog(), line);
      }
    });
  }

  test("send_timeout: a client that stops reading is cut off after 1s, in nginx's words", async () => {
    const chunk = Buffer.alloc(256 * 1024, "f");
    const { socket } = await open({
      then: (peer) => {
        const pump = (): void => {
          while (!peer.destroyed && peer.write(chunk));
          if (!peer.destroyed) peer.once("drain", pump);
        };
        pump();
      },
    });
    socket.pause();
    const line =
      /\[info\] \d+#\d+: \*\d+ client timed out \(110: Connection timed out\) while proxying upgraded connection/;
    await until(() => line.test(wsgate.errorLog()), 6000, "the client's send timeout");
    socket.destroy();
  });

  test("proxy_send_timeout: a backend that stops reading is cut off after 1s, in nginx's words", async () => {
    const chunk = Buffer.alloc(256 * 1024, "g");
    let peer: Socket | undefined;
    const { socket } = await open({ then: (s) => (peer = s).pause() });
    const closed = eventWithin(socket, "close", 8000);
    const pump = (): void => {
      while (!socket.destroyed && socket.write(chunk));
      if (!socket.destroyed) socket.once("drain", pump);
    };
    pump();
    await closed;
    assert.ok(peer, "the backend had its tunnel");
    const line =
      /\[info\] \d+#\d+: \*\d+ upstream timed out \(110: Connection timed out\) while proxying upgraded connection/;
    await until(() => line.test(wsgate.errorLog()), 3000, "the upstream's send timeout");
    peer.destroy();
  });

  // Last: the process ends.
  test("QUIT with 20 tunnels open: they still carry bytes, then worker_shutdown_timeout cuts them", async () => {
    const tunnels = [];
    for (let i = 0; i < 20; i++) tunnels.push(await open({ then: (socket) => socket.pipe(socket) }));
    process.kill(wsgate.pid, "SIGQUIT");
    await until(() => /gracefully shutting down\n/.test(wsgate.errorLog()), 5000, "the worker's shutdown notice");
    for (const { socket } of tunnels) {
      socket.write("still");
      const [echo] = await eventWithin<[Buffer]>(socket, "data", 3000);
      assert.equal(echo.toString(), "still");
    }
    await Promise.all(tunnels.map(({ socket }) => eventWithin(socket, "close", 8000)));
    await eventWithin(wsgate.child, "exit", 8000);
    // Each is logged, as nginx logs the requests it terminates at the timeout, on either path.
    for (const { path } of tunnels) await loggedCounts(wsgate, path);
  });
});
