/**
 * HTTP/2 in wsgate, with Node's http2 client on loopback: h2c with prior
 * knowledge beside HTTP/1.1 on the same address, requests through the
 * phases (proxy, return, logs with $server_protocol and $http2), bodies with
 * and without a length, many streams at once, a slow stream beside a fast
 * one, WebSocket over HTTP/2 (RFC 8441) bridged to an HTTP/1.1 upgrade,
 * nginx's limits (too many streams, headers too large) and the rapid-reset
 * guard.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { constants } from "node:http2";
import {
  defaultHandler,
  header,
  startRecordingBackend,
  ECHO_PREFIX,
  type BackendHandler,
  type RecordingBackend,
} from "../support/backend.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { destroySessions, h2Request, h2Session, h2WebSocket, readResponse } from "../support/h2-client.js";
import { until, withTimeout } from "../support/wait.js";
import type { Socket } from "node:net";
import { switchingProtocols } from "../e2e/wire.js";

const LOG_FORMAT = `log_format h2 '$request|$status|$server_protocol|$http2|$http_host|$connection_requests';`;

function conf(port: number, backend: number, extra = ""): string {
  return httpConf(`
    ${LOG_FORMAT}
    upstream backend { server 127.0.0.1:${backend}; }
    server {
      listen 127.0.0.1:${port};
      http2 on;
      http2_max_concurrent_streams 64;
      wsgate_http2_websocket on;
      access_log logs/h2.log h2;
      ${extra}
      location / {
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
      }
      location /streamed/ {
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_request_buffering off;
      }
      location = /fixed { return 200 "fixed answer\\n"; }
    }`);
}

describe("HTTP/2 (h2c with prior knowledge)", () => {
  let backend: RecordingBackend;
  const rawTunnels: Socket[] = [];
  let wsgate: WsgateProcess;
  let port: number;
  let url: string;

  /** /large/N answers N bytes; /hold never answers; the rest as the recording backend does. */
  const handler: BackendHandler = (request, socket) => {
    const large = /^\/large\/(\d+)/.exec(request.target);
    if (large)
      return {
        status: 200,
        headers: [["Content-Type", "application/octet-stream"]],
        body: Buffer.alloc(Number(large[1]), "x"),
      };
    if (request.target.startsWith("/hold")) return "hold";
    if (request.target.startsWith("/raw-tunnel")) {
      // A 101, then the socket is the test's: it reads and writes as the test decides.
      const key = header(request, "sec-websocket-key") ?? "";
      return {
        takeover: (upstream: Socket) => {
          upstream.write(switchingProtocols(key));
          rawTunnels.push(upstream);
        },
      };
    }
    if (request.target.startsWith("/no-upgrade")) return { status: 200, headers: [], body: "a page\n" };
    return defaultHandler(request, socket);
  };

  before(async () => {
    backend = await startRecordingBackend({ handler });
    port = await freePort();
    wsgate = await startWsgate({ conf: conf(port, backend.port) });
    url = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    destroySessions();
    await wsgate?.stop();
    await backend?.close();
  });

  test("a request is proxied, logged as HTTP/2.0 with $http2 h2c, and HTTP/1.1 still works beside it", async () => {
    const session = await h2Session(url);
    try {
      const response = await h2Request(session, { ":path": "/hello?x=1" }).catch((err: unknown) => {
        console.log(wsgate.errorLog());
        throw err;
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), "hello from backend\n");
      assert.equal(response.headers["connection"], undefined);
      assert.equal(response.headers["content-type"], "text/plain");
      const fixed = await h2Request(session, { ":path": "/fixed" });
      assert.equal(fixed.body.toString(), "fixed answer\n");
    } finally {
      session.close();
    }
    const upstream = backend.requests.at(-1)!;
    assert.equal(upstream.method, "GET");
    assert.equal(header(upstream, "host"), "backend");
    const http1 = await new Promise<number>((resolve, reject) => {
      httpRequest({ port, host: "127.0.0.1", path: "/fixed" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    assert.equal(http1, 200);
    await until(() => wsgate.accessLog("h2.log").split("\n").length > 3, 3000, "three log lines");
    const lines = wsgate.accessLog("h2.log").trim().split("\n");
    assert.equal(lines[0], `GET /hello?x=1 HTTP/2.0|200|HTTP/2.0|h2c|127.0.0.1:${port}|1`);
    assert.equal(lines[1], `GET /fixed HTTP/2.0|200|HTTP/2.0|h2c|127.0.0.1:${port}|2`);
    assert.equal(lines[2], `GET /fixed HTTP/1.1|200|HTTP/1.1||127.0.0.1:${port}|1`);
  });

  test("request bodies reach the upstream, with a length and without one", async () => {
    const session = await h2Session(url);
    try {
      const body = Buffer.alloc(200_000, "b");
      const sized = await h2Request(
        session,
        { ":method": "POST", ":path": "/sized", "content-length": String(body.length) },
        body,
      );
      assert.equal(sized.status, 200);
      assert.equal(backend.requests.at(-1)!.body.length, body.length);
      const unsized = await h2Request(session, { ":method": "POST", ":path": "/unsized" }, body);
      assert.equal(unsized.status, 200);
      const buffered = backend.requests.at(-1)!;
      assert.equal(buffered.body.length, body.length);
      // Buffered whole (proxy_request_buffering on), it goes with its length, as nginx sends it.
      assert.equal(header(buffered, "content-length"), String(body.length));
      const streamed = await h2Request(session, { ":method": "POST", ":path": "/streamed/" }, body);
      assert.equal(streamed.status, 200);
      const last = backend.requests.at(-1)!;
      assert.equal(last.body.length, body.length);
      // Unbuffered under proxy_http_version 1.1: chunked, as nginx proxies an HTTP/2 body without a length.
      assert.equal(header(last, "transfer-encoding"), "chunked");
    } finally {
      session.close();
    }
  });

  test("large responses arrive whole, and many streams run at once", async () => {
    const session = await h2Session(url);
    try {
      const big = await h2Request(session, { ":path": "/large/3000000" });
      assert.equal(big.body.length, 3_000_000);
      const many = await Promise.all(
        Array.from({ length: 40 }, (_, i) => h2Request(session, { ":path": `/fixed?i=${i}` })),
      );
      assert.deepEqual(
        many.map((r) => r.status),
        many.map(() => 200),
      );
    } finally {
      session.close();
    }
  });

  test("a stream that does not read does not hold up another on the same connection", async () => {
    const session = await h2Session(url);
    try {
      const slow = session.request({ ":path": "/large/4000000" });
      slow.on("error", () => undefined);
      slow.pause();
      await withTimeout(new Promise((resolve) => slow.once("response", resolve)), 5000, "the slow stream's head");
      const fast = await h2Request(session, { ":path": "/fixed" }, undefined, 5000);
      assert.equal(fast.body.toString(), "fixed answer\n");
      slow.resume();
      const rest = await readResponse(slow);
      assert.ok(rest.body.length > 0);
      slow.close();
    } finally {
      session.close();
    }
  });

  test("WebSocket over HTTP/2: extended CONNECT bridged to an HTTP/1.1 upgrade, frames both ways, logged 200", async () => {
    const session = await h2Session(url);
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    try {
      const ws = await h2WebSocket(session, "/chat", { "sec-websocket-protocol": "chat" });
      assert.equal(ws.status, 200);
      const handshake = backend.requests.at(-1)!;
      assert.equal(header(handshake, "upgrade"), "websocket");
      assert.match(header(handshake, "sec-websocket-key") ?? "", /^[A-Za-z0-9+/]{22}==$/);
      assert.equal(header(handshake, "sec-websocket-protocol"), "chat");
      ws.send("over h2");
      const reply = await ws.frames.next();
      assert.equal(reply.opcode, 1);
      assert.equal(reply.payload.toString(), `${ECHO_PREFIX}over h2`);
      ws.send(Buffer.from([0x03, 0xe8]), 8);
      const close = await ws.frames.next();
      assert.equal(close.opcode, 8);
      ws.stream.end();
      await until(
        () => wsgate.accessLog("h2.log").includes("GET /chat HTTP/2.0|200|HTTP/2.0|h2c"),
        5000,
        "the log line",
      );
    } finally {
      session.close();
    }
  });

  test("an upstream that refuses the upgrade: the stream gets its status", async () => {
    const saved = backend.handler;
    backend.handler = () => ({ status: 403, headers: [["Content-Type", "text/plain"]], body: "no\n" });
    const session = await h2Session(url);
    try {
      const ws = await h2WebSocket(session, "/refused");
      assert.equal(ws.status, 403);
    } finally {
      backend.handler = saved;
      session.close();
    }
  });

  test("WebSocket over HTTP/2 holds back both ways: a side that stops reading stops the other, and no byte is lost", async () => {
    const session = await h2Session(url);
    try {
      const ws = await h2WebSocket(session, "/raw-tunnel");
      assert.equal(ws.status, 200);
      const upstream = rawTunnels.at(-1)!;
      // Client → upstream, with the upstream not reading: most of 32 MB must stay with the client.
      upstream.pause();
      const total = 32 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 7);
      for (let sent = 0; sent < total; sent += chunk.length) ws.stream.write(chunk);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // nothing to wait for: what stays queued is the point
      assert.ok(ws.stream.writableLength > total - 12 * 1024 * 1024, `client still holds ${ws.stream.writableLength}`);
      let received = 0;
      upstream.on("data", (data: Buffer) => (received += data.length));
      upstream.resume();
      await until(() => received === total, 20_000, "every byte at the upstream");
      // Upstream → client, with the client not reading: the upstream's writes back up.
      ws.stream.pause();
      for (let sent = 0; sent < total; sent += chunk.length) upstream.write(chunk);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(upstream.writableLength > total - 12 * 1024 * 1024, `upstream still holds ${upstream.writableLength}`);
      let delivered = 0;
      ws.stream.removeAllListeners("data");
      ws.stream.on("data", (data: Buffer) => (delivered += data.length));
      ws.stream.resume();
      await until(() => delivered === total, 20_000, "every byte at the client");
      upstream.destroy();
    } finally {
      session.close();
    }
  });

  test("an extended CONNECT answered 2xx without an upgrade is a 502: a 2xx would open the WebSocket", async () => {
    const session = await h2Session(url);
    try {
      const ws = await h2WebSocket(session, "/no-upgrade");
      assert.equal(ws.status, 502);
    } finally {
      session.close();
    }
  });

  test("a header larger than large_client_header_buffers: GOAWAY ENHANCE_YOUR_CALM, as nginx", async () => {
    // ngx_http_v2_state_field_len(): "client sent too large header field", a connection error (1.22 and 1.28).
    const session = await h2Session(url);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    const stream = session.request({ ":path": "/fixed", "x-big": "v".repeat(9000) });
    stream.on("error", () => undefined);
    assert.equal(await withTimeout(goaway, 5000, "GOAWAY"), constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
    await until(() => wsgate.errorLog().includes("client sent too large header field"), 3000, "the error log line");
  });

  test("an HPACK bomb (a header indexed once and repeated): its connection ends, the server serves the next", async () => {
    const session = await h2Session(url, { maxSendHeaderBlockLength: 100_000_000 });
    const ended = new Promise<void>((resolve) => session.once("close", () => resolve()));
    // Node's encoder indexes the value once: ~4 KB on the wire, 800 KB decoded, 12 times the header limits.
    const bomb = session.request({ ":path": "/fixed", "x-bomb": Array.from({ length: 200 }, () => "v".repeat(4000)) });
    bomb.on("error", () => undefined);
    await withTimeout(ended, 5000, "the bomb's connection to end");
    const next = await h2Session(url);
    try {
      assert.equal((await h2Request(next, { ":path": "/fixed" })).status, 200);
    } finally {
      next.close();
    }
  });

  test("rapid reset: a client resetting streams past the budget gets GOAWAY ENHANCE_YOUR_CALM", async () => {
    const session = await h2Session(url);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    // Streams whose answers never come (the upstream holds them), opened and reset in batches, as the attack does.
    for (let batch = 0; batch < 10 && !session.destroyed && !session.closed; batch++) {
      const streams = Array.from({ length: 20 }, () => session.request({ ":path": "/hold" }));
      for (const stream of streams) stream.on("error", () => undefined);
      // Let the batch's HEADERS go out before the resets (a stream reset before its HEADERS is never sent).
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (const stream of streams) stream.close(constants.NGHTTP2_CANCEL);
    }
    const code = await withTimeout(goaway, 5000, "GOAWAY");
    assert.equal(code, constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
    await until(() => wsgate.errorLog().includes("client reset too many streams"), 3000, "the error log line");
  });
});
