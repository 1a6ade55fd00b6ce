/**
 * The $wsgate_ variables in an access log after a known exchange: messages
 * and payload bytes each way (fragments counted once, control frames not),
 * the first close frame's code and who sent it (or whose TCP end came first),
 * the ping round trip; empty for a request that was not a tunnel. A location
 * whose logs print them counts even without a wsgate_ feature.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { openWs } from "../support/sockets.js";
import { withTimeout } from "../support/wait.js";
import {
  clientFrame,
  closePayload,
  rawBackend,
  rawClient,
  serverFrame,
  type RawBackend,
  loggedConf,
  wsProxy,
} from "./ws-peers.js";

function conf(port: number, backend: number): string {
  const proxy = wsProxy(backend);
  return loggedConf(
    port,
    `location / { ${proxy} }
    location /ping { wsgate_ping 300ms; ${proxy} }
    location = /plain { return 200 "plain\\n"; }`,
  );
}

describe("$wsgate_ variables", () => {
  let backend: RawBackend;
  let wsgate: WsgateProcess;
  let port: number;

  before(async () => {
    backend = await rawBackend();
    port = await freePort();
    wsgate = await startWsgate({ conf: conf(port, backend.port) });
  });
  after(async () => {
    await wsgate?.stop();
    await backend?.close();
  });

  async function lineFor(uri: string, count = 1): Promise<string> {
    await waitFor(
      () =>
        wsgate
          .accessLog("ws.log")
          .split("\n")
          .filter((line) => line.startsWith(uri + " ")).length >= count,
      6000,
      `the access-log line of ${uri}`,
    );
    return wsgate
      .accessLog("ws.log")
      .split("\n")
      .filter((line) => line.startsWith(uri + " "))[count - 1]!;
  }

  test("a known exchange closed by the client: exact counts, its code, `client`", async () => {
    const client = await rawClient(port, "/known");
    await waitFor(() => backend.peers.length === 1, 5000, "the tunnel at the backend");
    const upstream = backend.peers[0]!;
    // From the client: "a", "bb", and "ccc"+"dd" in two fragments with a ping between them: 3 messages, 8 bytes.
    client.socket.write(
      Buffer.concat([
        clientFrame(1, "a"),
        clientFrame(2, "bb"),
        clientFrame(1, "ccc", false),
        clientFrame(9, "ping payload"),
        clientFrame(0, "dd"),
      ]),
    );
    // From the upstream: "hello" and 10 binary bytes, and a pong: 2 messages, 15 bytes.
    upstream.socket.write(
      Buffer.concat([serverFrame(1, "hello"), serverFrame(10, "pong"), serverFrame(2, Buffer.alloc(10))]),
    );
    await waitFor(
      () => upstream.got.frames.length === 5 && client.got.frames.length === 3,
      3000,
      "every frame through",
    );
    client.socket.write(clientFrame(8, closePayload(4001)));
    await upstream.got.next(8, 3000);
    upstream.socket.write(serverFrame(8, closePayload(4001)));
    upstream.socket.end();
    client.socket.end();
    assert.equal(await lineFor("/known"), "/known 101 m=3/2 b=8/15 code=4001 by=client rtt=");
  });

  test("the upstream's close frame first: `upstream`; a TCP end without a close frame: the side that ended", async () => {
    const count = backend.peers.length;
    const client = await rawClient(port, "/upstream-closes");
    await waitFor(() => backend.peers.length > count, 5000, "the tunnel at the backend");
    const upstream = backend.peers[count]!;
    upstream.socket.write(serverFrame(8, closePayload(1000)));
    await client.got.next(8, 3000);
    upstream.socket.end();
    client.socket.end();
    assert.equal(await lineFor("/upstream-closes"), "/upstream-closes 101 m=0/0 b=0/0 code=1000 by=upstream rtt=");

    const second = await rawClient(port, "/client-drops");
    await waitFor(() => backend.peers.length > count + 1, 5000, "the second tunnel at the backend");
    second.socket.write(clientFrame(1, "x"));
    await backend.peers[count + 1]!.got.next(1, 3000);
    second.socket.destroy();
    assert.equal(await lineFor("/client-drops"), "/client-drops 101 m=1/0 b=1/0 code= by=client rtt=");
  });

  test("$wsgate_ping_rtt: the last round trip of a ping to a `ws` client, in ms", async () => {
    const ws = await openWs(`ws://127.0.0.1:${port}/ping`);
    await waitFor(() => backend.peers.length > 0 && ws.readyState === ws.OPEN, 3000, "open");
    const pinged = new Promise<void>((resolve) => ws.once("ping", () => resolve()));
    await withTimeout(pinged, 4000, "a ping from wsgate");
    // The answer (ws answers at once) is seen by wsgate before the close that follows it.
    ws.close(4002);
    const line = await lineFor("/ping");
    assert.match(line, /^\/ping 101 m=0\/0 b=0\/0 code=4002 by=client rtt=\d+$/);
    assert.ok(Number(/rtt=(\d+)/.exec(line)![1]) < 1000);
  });

  test("a request that was not a tunnel: every variable empty", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/plain`);
    assert.equal(await response.text(), "plain\n");
    assert.equal(await lineFor("/plain"), "/plain 200 m=/ b=/ code= by= rtt=");
  });
});
