/**
 * reset_timedout_connection under nginx and wsgate: a client that stops
 * reading a large file until send_timeout ends the request. With the
 * directive on, the connection is reset: the client's next write fails at
 * once (its socket is closed); off (the default), it is closed with a FIN: the
 * client may still write (its side is only half closed). A connection that
 * times out idle between requests (keepalive_timeout) is closed with a FIN
 * either way: nginx applies the directive to a request it frees.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listenTracked, skipWithoutNginx, type ScriptedBackend } from "../differential/peers.js";
import { openTempDir, startStaticPeer, type StaticPeer } from "../static/harness.js";
import { delay, eventWithin, until } from "../support/wait.js";

const skip = skipWithoutNginx();

type Ending = "reset" | "end";

/**
 * Ask for `path` and read nothing; once the server logged the request (it
 * timed out, or it is idle after it) and closed, write a byte: refused at once
 * after a reset, taken after a FIN.
 */
async function stalledClient(peer: StaticPeer, path: string, idle = false, upgrade = false): Promise<Ending> {
  const socket = connect(peer.port, "127.0.0.1");
  socket.pause();
  socket.on("error", () => undefined);
  const closed = eventWithin(socket, "close", 15_000);
  const upgrading = upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\n" : "";
  socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n${upgrading}\r\n`);
  await until(() => peer.readLog("access.log").includes(path), 8000, `${peer.name} to log ${path}`);
  // The close follows the log line at once; an idle connection waits keepalive_timeout (1 s) more.
  await delay(idle ? 1500 : 300);
  const ending = await new Promise<Ending>((done) => socket.write("x", (err) => done(err ? "reset" : "end")));
  socket.destroy();
  await closed;
  return ending;
}

/** A backend that answers an upgrade and then sends megabytes as fast as the tunnel takes them. */
function startFloodingBackend(): Promise<ScriptedBackend> {
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  return listenTracked((socket) => {
    socket.once("data", () => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once("drain", pump);
      };
      pump();
    });
  });
}

function conf(docroot: string, backend: number): string {
  return `
  default_type application/octet-stream;
  send_timeout 1s;
  keepalive_timeout 1s;
  server {
    listen 127.0.0.1:PORT;
    root ${docroot};
    location /reset/ { alias ${docroot}/; reset_timedout_connection on; }
    location /plain/ { alias ${docroot}/; }
    location /idle/ { alias ${docroot}/; reset_timedout_connection on; }
    location /tunnel/reset { proxy_pass http://127.0.0.1:${backend}; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; reset_timedout_connection on; }
    location /tunnel/plain { proxy_pass http://127.0.0.1:${backend}; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; }
  }`;
}

describe("reset_timedout_connection: RST on a timeout, as nginx", { skip }, () => {
  let docroot: string;
  let nginx: StaticPeer;
  let wsgate: StaticPeer;
  let backend: ScriptedBackend;

  before(async () => {
    docroot = openTempDir("reset");
    // More than the socket buffers of both ends hold, so the server's writes stall.
    writeFileSync(join(docroot, "big.bin"), Buffer.alloc(32 * 1024 * 1024, "b"));
    writeFileSync(join(docroot, "small.txt"), "small\n");
    backend = await startFloodingBackend();
    [nginx, wsgate] = await Promise.all([
      startStaticPeer("nginx", conf(docroot, backend.port)),
      startStaticPeer("wsgate", conf(docroot, backend.port)),
    ]);
  });

  after(async () => {
    await Promise.all([nginx?.stop(), wsgate?.stop(), backend?.close()]);
    rmSync(docroot, { recursive: true, force: true });
  });

  test("on: send_timeout resets the connection", async () => {
    const [fromNginx, fromWsgate] = await Promise.all([
      stalledClient(nginx, "/reset/big.bin"),
      stalledClient(wsgate, "/reset/big.bin"),
    ]);
    assert.equal(fromNginx, "reset");
    assert.equal(fromWsgate, "reset");
  });

  test("off: send_timeout closes with a FIN", async () => {
    const [fromNginx, fromWsgate] = await Promise.all([
      stalledClient(nginx, "/plain/big.bin"),
      stalledClient(wsgate, "/plain/big.bin"),
    ]);
    assert.equal(fromNginx, "end");
    assert.equal(fromWsgate, "end");
  });

  test("on, but keepalive_timeout after a complete response: a FIN", async () => {
    const [fromNginx, fromWsgate] = await Promise.all([
      stalledClient(nginx, "/idle/small.txt", true),
      stalledClient(wsgate, "/idle/small.txt", true),
    ]);
    assert.equal(fromNginx, "end");
    assert.equal(fromWsgate, "end");
  });

  for (const [name, path, expected] of [
    ["on", "/tunnel/reset", "reset"],
    ["off", "/tunnel/plain", "end"],
  ] as const) {
    test(`an upgraded connection, ${name}: the client's send_timeout ends it with ${expected === "reset" ? "RST" : "FIN"}`, async () => {
      const [fromNginx, fromWsgate] = await Promise.all([
        stalledClient(nginx, path, false, true),
        stalledClient(wsgate, path, false, true),
      ]);
      assert.equal(fromNginx, expected);
      assert.equal(fromWsgate, expected);
    });
  }
});
