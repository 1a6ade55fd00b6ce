/**
 * A broken HTTP/2 peer ends only its own connection: a client that vanishes
 * in the middle of a response or of its request body, one that sends garbage
 * after the preface (GOAWAY, then the close), one whose connection is reset
 * while an RFC 8441 tunnel is open (the upstream side of the tunnel is closed
 * too). The worker stays the same process, and an HTTP/1.1 WebSocket tunnel
 * and an HTTP/2 connection (with a tunnel of its own) opened before keep
 * working throughout, as new HTTP/2 connections do.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { WebSocket } from "ws";
import type { ClientHttp2Session } from "node:http2";
import { connect } from "node:net";
import { defaultHandler, startRecordingBackend, ECHO_PREFIX, type RecordingBackend } from "../support/backend.js";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { FLAG, FRAME, frame, getHeaders, goawayOf, rawH2 } from "../support/h2-raw-client.js";
import { h2Request, h2Session, h2WebSocket, type H2WebSocket } from "../support/h2-client.js";
import { openWs } from "../support/sockets.js";
import { killAll, processConf, startedWorkers } from "../process/harness.js";
import { until, withTimeout } from "../support/wait.js";

describe("HTTP/2: a broken peer closes only its own connection", () => {
  let backend: RecordingBackend;
  let wsgate: WsgateProcess;
  let port: number;
  let worker: number;
  let tunnel: WebSocket;
  let session: ClientHttp2Session;
  /** An RFC 8441 tunnel on `session`: it keeps the connection from idling out. */
  let h2Tunnel: H2WebSocket;

  before(async () => {
    backend = await startRecordingBackend({
      handler: (request, socket) => {
        const large = /^\/large\/(\d+)/.exec(request.target);
        if (large) return { status: 200, body: Buffer.alloc(Number(large[1]), "x") };
        return defaultHandler(request, socket);
      },
    });
    port = await freePort();
    wsgate = await startWsgate({
      conf: processConf(
        "worker_processes 1;",
        `server {
          listen 127.0.0.1:${port};
          http2 on;
          keepalive_timeout 2s;
          wsgate_http2_websocket on;
          location / {
            proxy_pass http://127.0.0.1:${backend.port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
          }
        }`,
      ),
    });
    worker = startedWorkers(wsgate.errorLog())[0]!;
    tunnel = await openWs(`ws://127.0.0.1:${port}/`);
    session = await h2Session(`http://127.0.0.1:${port}`);
    h2Tunnel = await h2WebSocket(session, "/kept");
  });

  after(async () => {
    tunnel?.terminate();
    session?.destroy();
    const workers = startedWorkers(wsgate?.errorLog() ?? "");
    await wsgate?.stop("SIGTERM");
    killAll(workers);
    await backend?.close();
  });

  /** The worker is the one started first, and both connections opened before still work. */
  async function othersStillWork(what: string): Promise<void> {
    const echoed = new Promise<string>((resolve) => tunnel.once("message", (data) => resolve(String(data))));
    tunnel.send(what);
    assert.equal(await withTimeout(echoed, 5000, "the HTTP/1.1 tunnel's echo"), `${ECHO_PREFIX}${what}`);
    h2Tunnel.send(what);
    assert.equal((await h2Tunnel.frames.next()).payload.toString(), `${ECHO_PREFIX}${what}`);
    const fresh = await h2Session(`http://127.0.0.1:${port}`);
    const answer = await h2Request(fresh, { ":path": `/after-${what}` });
    assert.equal(answer.status, 200);
    fresh.close();
    assert.deepEqual(startedWorkers(wsgate.errorLog()), [worker], "no worker was replaced");
    assert.doesNotMatch(wsgate.errorLog(), /\[alert\]|exited on signal/);
  }

  test("a client that vanishes mid-response and one that vanishes mid-upload", async () => {
    const reading = await rawH2(port);
    reading.start();
    await reading.settings();
    reading.send(getHeaders(1, "/large/5000000"));
    await reading.waitFrame((f) => f.type === FRAME.DATA && f.streamId === 1, 5000, "the first DATA");
    reading.socket.resetAndDestroy();
    const uploading = await rawH2(port);
    uploading.start();
    await uploading.settings();
    uploading.send(getHeaders(1, "/upload", true, "POST"), frame(FRAME.DATA, 0, 1, Buffer.alloc(10_000, "u")));
    // The upload is buffered whole before the upstream is asked (proxy_request_buffering on), so no event
    // says wsgate has read these bytes: give it a moment before vanishing mid-body.
    await new Promise((resolve) => setTimeout(resolve, 100));
    uploading.destroy();
    await othersStillWork("vanished");
  });

  // nginx closes at once after a connection error's GOAWAY; Node's session does not learn of an error
  // nghttp2 found by itself, so the connection ends at keepalive_timeout (2 s here) unless the client closes.
  test("garbage after the preface: GOAWAY with an error code, then the close", async () => {
    const client = await rawH2(port);
    client.start(Buffer.from("\x00\x00\x04\xff\xff\xff\xff\xffgarbage that is no frame at all\r\n\r\n", "latin1"));
    const goaway = goawayOf(await client.waitFrame((f) => f.type === FRAME.GOAWAY, 5000, "GOAWAY"));
    assert.notEqual(goaway.code, 0, "an error code");
    await client.waitClosed(6000);
    // A frame too large for SETTINGS_MAX_FRAME_SIZE: the same.
    const oversized = await rawH2(port);
    oversized.start(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.alloc(20_000)));
    await oversized.waitFrame((f) => f.type === FRAME.GOAWAY, 5000, "GOAWAY");
    await oversized.waitClosed(6000);
    await othersStillWork("garbage");
  });

  test("a connection reset while an RFC 8441 tunnel is open: the upstream side closes too", async () => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => undefined);
    const doomed = await h2Session(`http://127.0.0.1:${port}`, { createConnection: () => socket });
    const before = backend.websockets.size;
    const ws = await h2WebSocket(doomed, "/chat");
    assert.equal(ws.status, 200);
    ws.send("hi");
    assert.equal((await ws.frames.next()).payload.toString(), `${ECHO_PREFIX}hi`);
    await until(() => backend.websockets.size === before + 1, 3000, "the upstream WebSocket");
    socket.resetAndDestroy();
    await waitFor(() => backend.websockets.size === before, 5000, "the upstream WebSocket to close");
    await othersStillWork("reset");
  });
});
