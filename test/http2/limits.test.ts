/**
 * nginx's limits on an HTTP/2 connection, at the frame level: the SETTINGS a
 * client receives (http2_max_concurrent_streams, http2_body_preread_size as
 * the initial window, wsgate_http2_websocket as ENABLE_CONNECT_PROTOCOL),
 * streams past the concurrency refused with REFUSED_STREAM and nginx's info
 * line, keepalive_requests, keepalive_timeout (not while a stream is open),
 * keepalive_time, and the wait for the preface (client_header_timeout).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { defaultHandler, startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { freePorts, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { FLAG, FRAME, frame, getHeaders, goawayOf, headerBlock, rawH2, type Frame } from "../support/h2-raw-client.js";
import { h2Request, h2Session, h2WebSocket } from "../support/h2-client.js";
import { until, withTimeout } from "../support/wait.js";

const NO_ERROR = 0;
const REFUSED_STREAM = 7;
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;
const SETTINGS_ENABLE_CONNECT_PROTOCOL = 8;

const isGoaway = (f: Frame): boolean => f.type === FRAME.GOAWAY;

describe("HTTP/2 limits", () => {
  let backend: RecordingBackend;
  let wsgate: WsgateProcess;
  let ports: number[];
  /** [concurrency 2, preread 32k, websocket on; keepalive_requests 3; websocket off; keepalive_time 1s; timeouts 1s] */
  let streams: number, requests: number, plain: number, time: number, idle: number;

  before(async () => {
    backend = await startRecordingBackend({
      handler: (request, socket) => {
        if (request.target.startsWith("/hold")) return "hold";
        const delay = /[?&]delay=(\d+)/.exec(request.target);
        if (delay) return { status: 200, body: `slow ${request.target}\n`, delayMs: Number(delay[1]) };
        return defaultHandler(request, socket);
      },
    });
    ports = await freePorts(5);
    [streams, requests, plain, time, idle] = ports as [number, number, number, number, number];
    const location = `location / {
        proxy_pass http://127.0.0.1:${backend.port};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 60s;
      }`;
    const server = (port: number, extra: string): string =>
      `server { listen 127.0.0.1:${port}; http2 on; ${extra} ${location} }`;
    wsgate = await startWsgate({
      conf: httpConf(
        [
          server(streams, "http2_max_concurrent_streams 2; http2_body_preread_size 32k; wsgate_http2_websocket on;"),
          server(requests, "keepalive_requests 3;"),
          server(plain, ""),
          server(time, "keepalive_time 1s;"),
          server(idle, "keepalive_timeout 1s; client_header_timeout 1s; wsgate_http2_websocket on;"),
        ].join("\n"),
      ),
    });
  });

  after(async () => {
    await wsgate?.stop();
    await backend?.close();
  });

  test("SETTINGS: MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE from http2_body_preread_size, ENABLE_CONNECT_PROTOCOL", async () => {
    const client = await rawH2(streams);
    client.start();
    const settings = await client.settings();
    assert.equal(settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), 2);
    assert.equal(settings.get(SETTINGS_INITIAL_WINDOW_SIZE), 32 * 1024);
    assert.equal(settings.get(SETTINGS_ENABLE_CONNECT_PROTOCOL), 1);
    client.destroy();
    // nginx's defaults: 128 streams, a 64k preread; without wsgate_http2_websocket no extended CONNECT.
    const defaults = await rawH2(plain);
    defaults.start();
    const got = await defaults.settings();
    assert.equal(got.get(SETTINGS_MAX_CONCURRENT_STREAMS), 128);
    assert.equal(got.get(SETTINGS_INITIAL_WINDOW_SIZE), 64 * 1024);
    assert.notEqual(got.get(SETTINGS_ENABLE_CONNECT_PROTOCOL), 1);
    defaults.destroy();
  });

  test("wsgate_http2_websocket off: an extended CONNECT is refused", async () => {
    const session = await h2Session(`http://127.0.0.1:${plain}`);
    try {
      assert.notEqual(session.remoteSettings.enableConnectProtocol, true);
      // Node's client will not send :protocol to a server that did not allow it: at the frame level then.
      const client = await rawH2(plain);
      client.start();
      await client.settings();
      const block = [
        [":method", "CONNECT"],
        [":protocol", "websocket"],
        [":scheme", "http"],
        [":path", "/chat"],
        [":authority", "localhost"],
        ["sec-websocket-version", "13"],
      ] as const;
      client.send(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headerBlock(block)));
      const answer = await client.waitFrame(
        (f) => f.streamId === 1 && (f.type === FRAME.HEADERS || f.type === FRAME.RST_STREAM),
        5000,
        "an answer on stream 1",
      );
      // nghttp2 holds :protocol without the setting for a malformed request: RST_STREAM PROTOCOL_ERROR
      // (nginx, which has no RFC 8441, answers 400 for the unknown pseudo-header).
      assert.equal(answer.type, FRAME.RST_STREAM);
      assert.equal(answer.payload.readUInt32BE(0), 1);
      assert.equal(client.frames.some(isGoaway), false, "the connection goes on");
      client.destroy();
    } finally {
      session.close();
    }
  });

  test("streams past http2_max_concurrent_streams: REFUSED_STREAM, the connection and the others go on", async () => {
    const client = await rawH2(streams);
    // Sent with the preface, before the client can have acknowledged the limit: nghttp2 refuses the third
    // stream (nginx: REFUSED_STREAM too). Past the acknowledgement nghttp2 makes it a connection error.
    client.start(Buffer.concat([getHeaders(1, "/hold/1"), getHeaders(3, "/hold/3"), getHeaders(5, "/hello")]));
    const reset = await client.waitFrame((f) => f.type === FRAME.RST_STREAM && f.streamId === 5, 5000, "RST on 5");
    assert.equal(reset.payload.readUInt32BE(0), REFUSED_STREAM);
    await until(() => backend.requests.filter((r) => r.target.startsWith("/hold/")).length >= 2, 3000, "two held");
    // A stream that ends frees its place: the next one is served.
    client.send(frame(FRAME.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 8])));
    client.send(getHeaders(7, "/hello"));
    const head = await client.waitFrame((f) => f.streamId === 7 && f.type === FRAME.HEADERS, 5000, "an answer on 7");
    assert.equal(head.payload[0], 0x88, ":status 200");
    assert.equal(client.frames.some(isGoaway), false, "the connection goes on");
    client.destroy();
  });

  test("keepalive_requests 3: the third stream is answered, with GOAWAY NO_ERROR; the connection then closes", async () => {
    const client = await rawH2(requests);
    client.start();
    await client.settings();
    client.send(getHeaders(1, "/a"), getHeaders(3, "/b"));
    await client.waitFrame((f) => f.streamId === 3 && (f.flags & FLAG.END_STREAM) !== 0, 5000, "stream 3's end");
    assert.equal(client.frames.some(isGoaway), false);
    client.send(getHeaders(5, "/c?delay=300"));
    const goaway = await client.waitFrame(isGoaway, 5000, "GOAWAY");
    assert.deepEqual(goawayOf(goaway), { lastStreamId: 5, code: NO_ERROR });
    await client.waitClosed(5000);
    const third = client.body(5);
    assert.equal(third.data.toString(), "slow /c?delay=300\n");
    assert.ok(third.ended);
  });

  test("keepalive_time: the connection is sent GOAWAY after it, a stream in flight completes", async () => {
    const session = await h2Session(`http://127.0.0.1:${time}`);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    const slow = h2Request(session, { ":path": "/t?delay=1500" });
    assert.equal(await withTimeout(goaway, 3000, "GOAWAY"), NO_ERROR);
    const answer = await slow;
    assert.equal(answer.body.toString(), "slow /t?delay=1500\n");
    await withTimeout(new Promise((resolve) => session.once("close", resolve)), 3000, "the close");
  });

  test("keepalive_timeout closes an idle connection, not one with a quiet tunnel or a long poll", async () => {
    const idleClient = await rawH2(idle);
    idleClient.start();
    await idleClient.settings();
    const started = Date.now();
    await idleClient.waitClosed(4000);
    assert.ok(Date.now() - started >= 900, "not before keepalive_timeout");

    const session = await h2Session(`http://127.0.0.1:${idle}`);
    const ws = await h2WebSocket(session, "/chat");
    assert.equal(ws.status, 200);
    const poll = h2Request(session, { ":path": "/poll?delay=2500" });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(session.closed || session.destroyed, false, "still open past keepalive_timeout");
    ws.send("still here");
    assert.match((await ws.frames.next()).payload.toString(), /still here/);
    assert.equal((await poll).body.toString(), "slow /poll?delay=2500\n");
    ws.stream.close();
    // With nothing open, keepalive_timeout counts again.
    await withTimeout(new Promise((resolve) => session.once("close", resolve)), 4000, "the idle close");
  });

  test("client_header_timeout: an h2c address closes a connection that sends no preface", async () => {
    const socket = connect({ host: "127.0.0.1", port: idle });
    socket.on("error", () => undefined);
    const started = Date.now();
    await withTimeout(new Promise((resolve) => socket.once("close", resolve)), 4000, "the close");
    assert.ok(Date.now() - started >= 900, "not before client_header_timeout");
    // Half a preface, then nothing: the same.
    const half = await rawH2(idle);
    half.socket.write("PRI * HTTP/2.0\r\n");
    await half.waitClosed(4000);
  });
});
