/**
 * The WebSocket features over RFC 8441 tunnels (extended CONNECT on an
 * HTTP/2 stream, `wsgate_http2_websocket on`): the client side is a stream,
 * and pings, limits, protocol checks and the $wsgate_ variables behave as on
 * an HTTP/1.1 upgrade. Node's http2 client, a raw backend.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { destroySessions, h2Session, h2WebSocket, type H2WebSocket } from "../support/h2-client.js";
import { withTimeout } from "../support/wait.js";
import {
  clientFrame,
  rawBackend,
  serverFrame,
  type RawBackend,
  type RawPeer,
  loggedConf,
  wsProxy,
} from "./ws-peers.js";

function conf(port: number, backend: number): string {
  const proxy = wsProxy(backend);
  return loggedConf(
    port,
    `http2 on;
    wsgate_http2_websocket on;
    location /ping { wsgate_ping 500ms 1s; proxy_read_timeout 1s; ${proxy} }
    location /max { wsgate_max_message 100; ${proxy} }
    location /rate { wsgate_message_rate 1r/s; ${proxy} }`,
  );
}

/** Answer every ping `peer` got with a pong (as a test peer that is alive would), until `stop`. */
function answerPings(
  got: { frames: ReadonlyArray<{ opcode: number; payload: Buffer }> },
  write: (pong: Buffer) => void,
): () => void {
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < got.frames.length; seen++) {
      const frame = got.frames[seen]!;
      if (frame.opcode === 9) write(frame.payload);
    }
  }, 50);
  return () => clearInterval(timer);
}

describe("WebSocket features over HTTP/2 (RFC 8441)", () => {
  let backend: RawBackend;
  let wsgate: WsgateProcess;
  let url: string;

  before(async () => {
    backend = await rawBackend();
    const port = await freePort();
    wsgate = await startWsgate({ conf: conf(port, backend.port) });
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    destroySessions();
    await wsgate?.stop();
    await backend?.close();
  });

  async function open(path: string): Promise<{ ws: H2WebSocket; upstream: RawPeer }> {
    const count = backend.peers.length;
    const session = await h2Session(url);
    const ws = await h2WebSocket(session, path);
    assert.equal(ws.status, 200);
    await waitFor(() => backend.peers.length > count, 5000, "the tunnel at the backend");
    return { ws, upstream: backend.peers[count]! };
  }

  const closeCode = (payload: Buffer): number => payload.readUInt16BE(0);

  async function nextClose(ws: H2WebSocket): Promise<number> {
    for (;;) {
      const frame = await ws.frames.next(5000);
      if (frame.opcode === 8) return closeCode(frame.payload);
    }
  }

  test("pings: a stream that answers stays open past proxy_read_timeout; one that does not is cut and its upstream gets 1001", async () => {
    const alive = await open("/ping?alive");
    const frames: Array<{ opcode: number; payload: Buffer }> = [];
    const stopUpstream = answerPings(alive.upstream.got, (p) => alive.upstream.socket.write(serverFrame(10, p)));
    const reader = (async () => {
      for (;;) {
        const frame = await alive.ws.frames.next(6000).catch(() => undefined);
        if (!frame) return;
        frames.push(frame);
        if (frame.opcode === 9) alive.ws.stream.write(clientFrame(10, frame.payload));
        if (frame.opcode === 1) return;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    alive.ws.send("still here");
    await alive.upstream.got.next(1, 3000);
    alive.upstream.socket.write(serverFrame(1, "yes"));
    await withTimeout(reader, 5000, "the echo");
    stopUpstream();
    assert.ok(frames.filter((f) => f.opcode === 9).length >= 2, "pinged while quiet (the sweep looks once a second)");
    assert.equal(frames.at(-1)!.payload.toString(), "yes");
    assert.ok(!alive.upstream.got.frames.some((f) => f.opcode === 10), "the client's pongs to wsgate stay with wsgate");

    const silent = await open("/ping?silent");
    const stop = answerPings(silent.upstream.got, (p) => silent.upstream.socket.write(serverFrame(10, p)));
    const closed = new Promise<void>((resolve) => silent.ws.stream.once("close", () => resolve()));
    await withTimeout(closed, 6000, "the silent stream closed");
    stop();
    const close = await silent.upstream.got.next(8, 3000);
    assert.equal(closeCode(close.payload), 1001);
    await waitFor(() => /client did not answer ping within 1s/.test(wsgate.errorLog()), 3000, "the log line");
  });

  test("wsgate_max_message: 1009 to the stream, 1001 to the upstream, which never gets the message", async () => {
    const { ws, upstream } = await open("/max");
    ws.stream.write(Buffer.concat([clientFrame(1, "ok"), clientFrame(1, "x".repeat(101))]));
    assert.equal(await nextClose(ws), 1009);
    const close = await upstream.got.next(8, 3000);
    assert.equal(closeCode(close.payload), 1001);
    assert.deepEqual(
      upstream.got.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString()),
      ["ok"],
    );
    ws.stream.write(clientFrame(8, Buffer.from([0x03, 0xe8])));
    upstream.socket.write(serverFrame(8, Buffer.from([0x03, 0xe8])));
    await waitFor(() => /^\/max /m.test(wsgate.accessLog("ws.log")), 5000, "the access-log line");
    assert.match(wsgate.accessLog("ws.log"), /^\/max 200 m=1\/0 b=2\/0 code=1009 by=wsgate rtt=$/m);
  });

  test("wsgate_message_rate: a burst gets 1008; a protocol error from the stream gets 1002", async () => {
    const rated = await open("/rate");
    rated.ws.stream.write(Buffer.concat([clientFrame(1, "one"), clientFrame(1, "two")]));
    assert.equal(await nextClose(rated.ws), 1008);
    assert.equal(closeCode((await rated.upstream.got.next(8, 3000)).payload), 1001);

    const broken = await open("/rate?broken");
    broken.ws.stream.write(serverFrame(1, "unmasked"));
    assert.equal(await nextClose(broken.ws), 1002);
    assert.equal(closeCode((await broken.upstream.got.next(8, 3000)).payload), 1001);
    assert.ok(!broken.upstream.got.frames.some((f) => f.opcode === 1));
  });
});
