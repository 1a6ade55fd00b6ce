/**
 * HTTP/2 connections across graceful shutdown (QUIT) and reload (HUP), with
 * the master and two workers: the client is sent GOAWAY NO_ERROR naming the
 * last stream taken; streams in flight (a slow upstream answer, a request
 * body still uploading) complete whole; a stream the client opens after the
 * GOAWAY is not processed; an idle connection closes at once. WebSocket
 * tunnels over HTTP/2 (RFC 8441) end as HTTP/1.1 tunnels do: kept until
 * worker_shutdown_timeout then cut, or, under `wsgate_close_frames on`, sent
 * a 1001 close frame both ways, every message before it delivered.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { freePort, waitFor, type WsgateProcess, startWsgate } from "../support/proxy.js";
import { FLAG, FRAME, frame, getHeaders, goawayOf, headerBlock, rawH2, type RawH2 } from "../support/h2-raw-client.js";
import { h2Request, h2Session, h2WebSocket } from "../support/h2-client.js";
import { echoBackend, killAll, processConf, startedWorkers, writeConf, type EchoBackend } from "../process/harness.js";
import { withTimeout } from "../support/wait.js";
import { readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { connect as h2Connect } from "node:http2";
import { makeCerts } from "../tls/certs.js";

const NO_ERROR = 0;

/**
 * A TLS client (ALPN h2) whose writes after its ClientHello are held until release(): the server's
 * handshake cannot end before then.
 */
async function gatedTls(port: number): Promise<{ tls: TLSSocket; held: Buffer[]; release: () => void }> {
  const tcp = tcpConnect({ host: "127.0.0.1", port });
  tcp.on("error", () => undefined);
  await withTimeout(new Promise((resolve) => tcp.once("connect", resolve)), 5000, "a TCP connection");
  const held: Buffer[] = [];
  let writes = 0;
  let holding = true;
  const wire = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, done) => {
      if (writes++ > 0 && holding) {
        held.push(chunk);
        done();
      } else tcp.write(chunk, () => done());
    },
  });
  tcp.on("data", (chunk: Buffer) => wire.push(chunk));
  tcp.on("close", () => wire.destroy());
  const tls = tlsConnect({ socket: wire, servername: "a.test", ALPNProtocols: ["h2"], rejectUnauthorized: false });
  tls.on("error", () => undefined);
  const release = (): void => {
    holding = false;
    tcp.write(Buffer.concat(held.splice(0)));
  };
  return { tls, held, release };
}

function exitOf(wsgate: WsgateProcess, ms: number): Promise<number | null> {
  if (!wsgate.alive()) return Promise.resolve(wsgate.child.exitCode);
  return withTimeout(new Promise((resolve) => wsgate.child.once("exit", (code) => resolve(code))), ms, "wsgate's exit");
}

/** A recording backend: `?delay=MS` answers late, a POST is answered with its body's length. */
async function slowBackend(): Promise<RecordingBackend> {
  return startRecordingBackend({
    handler: (request) => {
      const delay = Number(/[?&]delay=(\d+)/.exec(request.target)?.[1] ?? 0);
      const text = request.method === "POST" ? `got ${request.body.length} bytes\n` : `answer ${request.target}\n`;
      return { status: 200, body: text, delayMs: delay };
    },
  });
}

function h2Server(port: number, backend: number, extra = ""): string {
  return `server {
  listen 127.0.0.1:${port};
  http2 on;
  wsgate_http2_websocket on;
  ${extra}
  location / {
    proxy_pass http://127.0.0.1:${backend};
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
  }
}`;
}

/** A POST's HEADERS with a length; its DATA follows. */
function postHeaders(streamId: number, path: string, length: number): Buffer {
  const fields = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-length", String(length)],
  ] as const;
  return frame(FRAME.HEADERS, FLAG.END_HEADERS, streamId, headerBlock(fields));
}

/** DATA frames within the default SETTINGS_MAX_FRAME_SIZE (16384). */
function dataFrames(streamId: number, data: Buffer, last: boolean): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < data.length; at += 15_000) {
    const end = Math.min(at + 15_000, data.length);
    frames.push(frame(FRAME.DATA, last && end === data.length ? FLAG.END_STREAM : 0, streamId, data.subarray(at, end)));
  }
  return frames;
}

interface InFlight {
  readonly busy: RawH2;
  readonly idle: RawH2;
}

/** A connection with a slow answer and a half-sent body in flight, and an idle one, both past their SETTINGS. */
async function openInFlight(port: number, backend: RecordingBackend): Promise<InFlight> {
  const busy = await rawH2(port);
  busy.start();
  await busy.settings();
  busy.send(getHeaders(1, "/slow?delay=1200"), postHeaders(3, "/upload", 60_000));
  busy.send(...dataFrames(3, Buffer.alloc(30_000, "a"), false));
  await waitFor(() => backend.requests.some((r) => r.target === "/slow?delay=1200"), 5000, "the slow request");
  const idle = await rawH2(port);
  idle.start();
  await idle.settings();
  return { busy, idle };
}

/** After the signal: GOAWAY, a late stream not processed, the body's rest sent, every answer whole, the close. */
async function checkDrained({ busy, idle }: InFlight, backend: RecordingBackend): Promise<void> {
  const goaway = goawayOf(await busy.waitFrame((f) => f.type === FRAME.GOAWAY, 5000, "GOAWAY"));
  assert.deepEqual(goaway, { lastStreamId: 3, code: NO_ERROR });
  // A stream opened after the GOAWAY is past its last stream: the server does not take it.
  busy.send(getHeaders(5, "/late"));
  busy.send(...dataFrames(3, Buffer.alloc(30_000, "b"), true));
  await busy.waitClosed(10_000);
  assert.equal(busy.body(1).data.toString(), "answer /slow?delay=1200\n");
  assert.ok(busy.body(1).ended);
  assert.equal(busy.body(3).data.toString(), "got 60000 bytes\n");
  assert.equal(
    busy.frames.some((f) => f.streamId === 5),
    false,
    "nothing on the late stream",
  );
  assert.equal(
    backend.requests.some((r) => r.target === "/late"),
    false,
    "the late stream never reached the upstream",
  );
  const idleGoaway = goawayOf(await idle.waitFrame((f) => f.type === FRAME.GOAWAY, 5000, "GOAWAY (idle)"));
  assert.equal(idleGoaway.code, NO_ERROR);
}

describe("HTTP/2 across shutdown and reload (master, 2 workers)", () => {
  const started: Array<{ wsgate: WsgateProcess; close: () => Promise<void> }> = [];

  after(async () => {
    for (const { wsgate, close } of started) {
      const workers = startedWorkers(wsgate.errorLog());
      await wsgate.stop("SIGKILL");
      killAll(workers);
      await close();
    }
  });

  async function start(
    main: string,
    server: (port: number, backend: number) => string,
    backend: { port: number; close: () => Promise<void> },
    files: Record<string, string> = {},
  ): Promise<{ wsgate: WsgateProcess; port: number }> {
    const port = await freePort();
    const conf = processConf(`worker_processes 2; ${main}`, server(port, backend.port));
    const wsgate = await startWsgate({ conf, files });
    started.push({ wsgate, close: () => backend.close() });
    return { wsgate, port };
  }

  test("QUIT: GOAWAY NO_ERROR, streams in flight complete whole, a late stream is not taken, idle closes at once", async () => {
    const backend = await slowBackend();
    const { wsgate, port } = await start("", (p, b) => h2Server(p, b), backend);
    const inFlight = await openInFlight(port, backend);
    const signalled = Date.now();
    process.kill(wsgate.pid, "SIGQUIT");
    await inFlight.idle.waitClosed(1000);
    assert.ok(Date.now() - signalled < 1000, "the idle connection closed at once");
    await checkDrained(inFlight, backend);
    assert.equal(await exitOf(wsgate, 10_000), 0);
  });

  test("HUP: the old workers drain their HTTP/2 connections; new connections get the new configuration", async () => {
    const backend = await slowBackend();
    const { wsgate, port } = await start(
      "",
      (p, b) => h2Server(p, b, "location = /which { return 200 old; }"),
      backend,
    );
    const inFlight = await openInFlight(port, backend);
    writeConf(
      wsgate.prefix,
      processConf("worker_processes 2;", h2Server(port, backend.port, "location = /which { return 200 new; }")),
    );
    process.kill(wsgate.pid, "SIGHUP");
    await checkDrained(inFlight, backend);
    const session = await h2Session(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":path": "/which" });
      let body = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => (body += chunk));
      await withTimeout(new Promise((resolve) => stream.once("end", resolve)), 5000, "/which");
      assert.equal(body, "new");
    } finally {
      session.close();
    }
    assert.match(wsgate.errorLog(), /signal 1 \(SIGHUP\) received, reconfiguring/);
  });

  test("QUIT: a preface half sent is closed at once; a TLS handshake that ends later is served its first flight, then GOAWAY", async () => {
    const backend = await slowBackend();
    const tlsPort = await freePort();
    const certs = makeCerts();
    const files = {
      "a.test.crt": readFileSync(certs.aCrt, "latin1"),
      "a.test.key": readFileSync(certs.aKey, "latin1"),
    };
    const tlsServer = `server { listen 127.0.0.1:${tlsPort} ssl; http2 on; ssl_certificate a.test.crt;
      ssl_certificate_key a.test.key; location / { return 200 late; } }`;
    const { wsgate, port } = await start("", (p, b) => `${h2Server(p, b)}\n${tlsServer}`, backend, files);
    certs.remove();
    const half = await rawH2(port);
    half.socket.write("PRI * HTTP/2.0\r\n");
    // The client's second flight (its Finished, then the preface and a request) is held back past the signal.
    const gated = await gatedTls(tlsPort);
    await waitFor(() => gated.held.length > 0, 5000, "the client's second flight");
    const signalled = Date.now();
    process.kill(wsgate.pid, "SIGQUIT");
    await half.waitClosed(2000);
    assert.ok(Date.now() - signalled < 2000, "closed at once, not at client_header_timeout");
    await waitFor(() => / gracefully shutting down\n/.test(wsgate.errorLog()), 5000, "the worker's shutdown notice");
    const session = h2Connect("https://a.test", { createConnection: () => gated.tls });
    session.on("error", () => undefined);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    const first = h2Request(session, { ":path": "/first" });
    gated.release();
    assert.equal((await first).body.toString(), "late");
    assert.equal(await withTimeout(goaway, 5000, "GOAWAY"), NO_ERROR);
    await withTimeout(new Promise((resolve) => session.once("close", resolve)), 5000, "the close");
    assert.equal(await exitOf(wsgate, 10_000), 0);
  });

  async function tunnelAtShutdown(
    main: string,
    name: string,
  ): Promise<{ wsgate: WsgateProcess; backend: EchoBackend; port: number }> {
    const backend = await echoBackend(name);
    const { wsgate, port } = await start(main, (p, b) => h2Server(p, b), backend);
    return { wsgate, backend, port };
  }

  test("RFC 8441 tunnel under wsgate_close_frames on: works until worker_shutdown_timeout, then 1001 both ways", async () => {
    const { wsgate, backend, port } = await tunnelAtShutdown(
      "worker_shutdown_timeout 1s; wsgate_close_frames on;",
      "F",
    );
    const session = await h2Session(`http://127.0.0.1:${port}`);
    const ws = await h2WebSocket(session, "/");
    assert.equal(ws.status, 200);
    ws.send("x");
    assert.equal((await ws.frames.next()).payload.toString(), "F:x");
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    process.kill(wsgate.pid, "SIGQUIT");
    assert.equal(await withTimeout(goaway, 5000, "GOAWAY"), NO_ERROR);
    // Nothing lost: every message sent before the close frame comes back.
    for (let i = 0; i < 5; i++) ws.send(`m${i}`);
    for (let i = 0; i < 5; i++) assert.equal((await ws.frames.next()).payload.toString(), `F:m${i}`);
    const close = await ws.frames.next(5000);
    assert.equal(close.opcode, 8);
    assert.equal(close.payload.readUInt16BE(0), 1001);
    // The client answers, as a client does.
    ws.send(close.payload.subarray(0, 2), 8);
    assert.equal(await exitOf(wsgate, 10_000), 0);
    assert.deepEqual(backend.closeCodes, [1001]);
    session.destroy();
  });

  test("RFC 8441 tunnels under wsgate_shutdown_drain: each gets 1001 within the drain, both ways", async () => {
    const { wsgate, backend, port } = await tunnelAtShutdown("wsgate_shutdown_drain 500ms;", "D");
    const session = await h2Session(`http://127.0.0.1:${port}`);
    const tunnels = [await h2WebSocket(session, "/"), await h2WebSocket(session, "/")];
    for (const [i, ws] of tunnels.entries()) {
      ws.send(`t${i}`);
      assert.equal((await ws.frames.next()).payload.toString(), `D:t${i}`);
    }
    const signalled = Date.now();
    process.kill(wsgate.pid, "SIGQUIT");
    for (const ws of tunnels) {
      const close = await ws.frames.next(5000);
      assert.equal(close.opcode, 8);
      assert.equal(close.payload.readUInt16BE(0), 1001);
      ws.send(close.payload.subarray(0, 2), 8);
    }
    assert.ok(Date.now() - signalled < 3000, "within the drain, not at a timeout");
    assert.equal(await exitOf(wsgate, 10_000), 0);
    assert.deepEqual(backend.closeCodes, [1001, 1001]);
    session.destroy();
  });

  test("RFC 8441 tunnel by default: kept after QUIT until worker_shutdown_timeout, then cut without a close frame", async () => {
    const { wsgate, port } = await tunnelAtShutdown("worker_shutdown_timeout 1s;", "N");
    const session = await h2Session(`http://127.0.0.1:${port}`);
    const ws = await h2WebSocket(session, "/");
    ws.send("x");
    assert.equal((await ws.frames.next()).payload.toString(), "N:x");
    process.kill(wsgate.pid, "SIGQUIT");
    await waitFor(() => / gracefully shutting down\n/.test(wsgate.errorLog()), 5000, "the worker's shutdown notice");
    ws.send("still");
    assert.equal((await ws.frames.next()).payload.toString(), "N:still", "the tunnel works during the shutdown");
    await assert.rejects(ws.frames.next(5000), /ended before a frame/, "cut, no close frame");
    assert.equal(await exitOf(wsgate, 10_000), 0);
    session.destroy();
  });

  test("RFC 8441 tunnel across a reload: it stays with its worker and backend, new ones get the new configuration", async () => {
    const a = await echoBackend("A");
    const b = await echoBackend("B");
    const { wsgate, port } = await start("", (p, x) => h2Server(p, x), a);
    started.push({ wsgate, close: () => b.close() });
    const session = await h2Session(`http://127.0.0.1:${port}`);
    const ws = await h2WebSocket(session, "/");
    ws.send("before");
    assert.equal((await ws.frames.next()).payload.toString(), "A:before");
    writeConf(wsgate.prefix, processConf("worker_processes 2;", h2Server(port, b.port)));
    process.kill(wsgate.pid, "SIGHUP");
    assert.equal(await withTimeout(new Promise((r) => session.once("goaway", r)), 10_000, "GOAWAY"), NO_ERROR);
    for (let i = 0; i < 20; i++) {
      ws.send(`after${i}`);
      assert.equal((await ws.frames.next()).payload.toString(), `A:after${i}`);
    }
    const fresh = await h2Session(`http://127.0.0.1:${port}`);
    const other = await h2WebSocket(fresh, "/");
    other.send("new");
    assert.equal((await other.frames.next()).payload.toString(), "B:new");
    ws.stream.close();
    other.stream.close();
    fresh.destroy();
    session.destroy();
  });
});
