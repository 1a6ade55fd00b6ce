/**
 * send_timeout and proxy_send_timeout in a tunnel, against nginx: a side that
 * stops reading while the other keeps sending is cut off after its send limit
 * (ngx_http_upstream_process_upgraded: the client's write timer is
 * send_timeout, the upstream's proxy_send_timeout), not after
 * proxy_read_timeout; both proxies close within the same bounds, write the
 * same error-log line ("client timed out" / "upstream timed out" … while
 * proxying upgraded connection) and log the request with the same status.
 *
 * A peer that stops reading must stop long enough for the kernel buffers on
 * the way to fill: the other side sends megabytes, as fast as it may.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { skipWithoutNginx, type Peer, peersWith } from "./peers.js";
import { listenTracked, type ScriptedBackend } from "./peers.js";
import { linesEventually } from "../support/sockets.js";
import { eventWithin, until } from "../support/wait.js";

const skip = skipWithoutNginx();

const SEND_LIMIT_MS = 2000;
/** The sweeps of wsgate and nginx's own timer slack; far below the 20 s read limit that must not fire. */
const TOLERANCE_MS = 1200;

const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
const MB = Buffer.alloc(1024 * 1024, 0x5a);

/** Write megabytes to `socket` as fast as it takes them, until it closes. */
function flood(socket: Socket): void {
  const pump = (): void => {
    while (!socket.destroyed && socket.write(MB));
    if (!socket.destroyed) socket.once("drain", pump);
  };
  pump();
}

/** A backend that answers the upgrade, then on /client-stalls floods the client and on /upstream-stalls never reads. */
async function startBackend(): Promise<ScriptedBackend & { closed: Map<string, number> }> {
  const closed = new Map<string, number>();
  const backend = await listenTracked((socket) => {
    socket.once("data", (head: Buffer) => {
      const text = head.toString("latin1");
      const path = text.split(" ")[1] ?? "";
      const tag = /\r\nX-Tag: (\w+)/i.exec(text)?.[1] ?? "";
      socket.once("close", () => closed.set(tag, Date.now()));
      socket.write(SWITCH);
      if (path.includes("/client-stalls")) flood(socket);
      else socket.pause();
    });
  });
  return { ...backend, closed };
}

const conf = (backend: number): string => `
  server {
    listen PORT;
    location / {
      proxy_pass http://127.0.0.1:${backend};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection upgrade;
      proxy_read_timeout 20s;
      send_timeout ${SEND_LIMIT_MS}ms;
      proxy_send_timeout ${SEND_LIMIT_MS}ms;
    }
    # A read limit shorter than the send limit: nginx stops reading an upstream whose bytes the client has not
    # taken, and drops that read timer; send_timeout decides.
    location /short-read/ {
      proxy_pass http://127.0.0.1:${backend}/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection upgrade;
      proxy_read_timeout 1s;
      send_timeout ${SEND_LIMIT_MS}ms;
    }
  }`;

/** Upgrade through `peer`; resolves with the socket and when the 101 came. */
async function upgrade(peer: Peer, path: string, tag: string): Promise<{ socket: Socket; at: number }> {
  const socket = connect(peer.port, "127.0.0.1");
  socket.on("error", () => undefined);
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: a\r\nX-Tag: ${tag}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${peer.name}: no 101`)), 5000);
    socket.once("data", () => {
      clearTimeout(timer);
      resolve({ socket, at: Date.now() });
    });
  });
}

/** [info] and above, without time, pid and connection number, for the lines of the tunnels' timers. */
function timeoutLines(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => line.includes("while proxying upgraded connection"))
    .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 ").replace(/:\d+\//, ":PORT/"));
}

/** The request and status of each access-log line (the bytes sent depend on socket buffers). */
function statuses(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => /"[^"]*" \d+/.exec(line)?.[0] ?? line);
}

describe("differential: send limits in tunnels", { skip }, () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const peers = peersWith(
    async () => {
      backend = await startBackend();
      return conf(backend.port);
    },
    async () => {
      await backend?.close();
    },
  );

  const clientStalls: ReadonlyArray<readonly [string, string, string]> = [
    ["send_timeout: a client that stops reading is cut off, the upstream with it", "/client-stalls", "c"],
    [
      "send_timeout, not a shorter proxy_read_timeout, ends a tunnel whose client stopped reading",
      "/short-read/client-stalls",
      "r",
    ],
  ];
  for (const [title, path, tagPrefix] of clientStalls) {
    test(title, async () => {
      const elapsed = async (peer: Peer): Promise<number> => {
        const tag = `${tagPrefix}${peer.name}`;
        const { socket, at } = await upgrade(peer, path, tag);
        socket.pause();
        const closedAt = await until(() => backend.closed.get(tag), 10_000, `${peer.name} closing the upstream`);
        socket.destroy();
        return closedAt - at;
      };
      const [nginx, wsgate] = await Promise.all([elapsed(peers.nginx!), elapsed(peers.wsgate!)]);
      assert.ok(nginx >= SEND_LIMIT_MS - 500 && nginx < SEND_LIMIT_MS + TOLERANCE_MS, `nginx closed after ${nginx} ms`);
      assert.ok(Math.abs(wsgate - nginx) < TOLERANCE_MS, `wsgate closed after ${wsgate} ms, nginx after ${nginx} ms`);
    });
  }

  test("proxy_send_timeout: an upstream that stops reading is cut off, the client with it", async () => {
    const elapsed = async (peer: Peer): Promise<number> => {
      const { socket, at } = await upgrade(peer, "/upstream-stalls", `u${peer.name}`);
      const closed = eventWithin(socket, "close", 10_000).then(() => Date.now());
      flood(socket);
      return (await closed) - at;
    };
    const [nginx, wsgate] = await Promise.all([elapsed(peers.nginx!), elapsed(peers.wsgate!)]);
    assert.ok(nginx >= SEND_LIMIT_MS - 500 && nginx < SEND_LIMIT_MS + TOLERANCE_MS, `nginx closed after ${nginx} ms`);
    assert.ok(Math.abs(wsgate - nginx) < TOLERANCE_MS, `wsgate closed after ${wsgate} ms, nginx after ${nginx} ms`);
  });

  test("proxy_read_timeout: a tunnel idle both ways ends at the read limit", async () => {
    const elapsed = async (peer: Peer): Promise<number> => {
      const { socket, at } = await upgrade(peer, "/short-read/idle", `i${peer.name}`);
      const closed = await eventWithin<unknown>(socket, "close", 10_000).then(() => Date.now());
      return closed - at;
    };
    const [nginx, wsgate] = await Promise.all([elapsed(peers.nginx!), elapsed(peers.wsgate!)]);
    assert.ok(nginx >= 500 && nginx < 1000 + TOLERANCE_MS, `nginx closed after ${nginx} ms`);
    assert.ok(Math.abs(wsgate - nginx) < TOLERANCE_MS, `wsgate closed after ${wsgate} ms, nginx after ${nginx} ms`);
  });

  test("the error-log lines and the access-log statuses match", async () => {
    await linesEventually(() => peers.nginx!.accessLog(), 4);
    await linesEventually(() => peers.wsgate!.accessLog(), 4);
    const nginxLines = timeoutLines(peers.nginx!.errorLog());
    assert.deepEqual(
      nginxLines.map((line) => line.slice(0, line.indexOf(","))),
      [
        "[info] client timed out (110: Connection timed out) while proxying upgraded connection",
        "[info] client timed out (110: Connection timed out) while proxying upgraded connection",
        "[info] upstream timed out (110: Connection timed out) while proxying upgraded connection",
        "[info] upstream timed out (110: Connection timed out) while proxying upgraded connection",
      ],
    );
    assert.deepEqual(timeoutLines(peers.wsgate!.errorLog()), nginxLines);
    assert.deepEqual(statuses(peers.wsgate!.accessLog()), statuses(peers.nginx!.accessLog()));
    assert.deepEqual(statuses(peers.nginx!.accessLog()), [
      '"GET /client-stalls HTTP/1.1" 101',
      '"GET /short-read/client-stalls HTTP/1.1" 101',
      '"GET /upstream-stalls HTTP/1.1" 101',
      '"GET /short-read/idle HTTP/1.1" 101',
    ]);
  });
});
