/**
 * Errors contained as nginx contains them. A throw in a connection's handler
 * closes that connection only, releases its upstream peer, and logs an alert
 * naming the connection; the process goes on serving. A throw outside any
 * connection ends the worker, and the master starts another (nginx's model for
 * a crashed worker); with `master_process off` the process exits non-zero.
 * The throws are injected from outside (test/process/inject/throw-hook.ts,
 * loaded with `node --import`).
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { startWsgate, freePort, waitFor, type WsgateProcess } from "../support/proxy.js";
import { exchange } from "../support/sockets.js";

const HOOK = fileURLToPath(new URL("./inject/throw-hook.js", import.meta.url));
const env = { ...process.env, NODE_OPTIONS: `--import=${HOOK}` };

/** A backend that answers 200 "backend" once it has the whole body (Content-Length). */
async function backend(): Promise<{ port: number; open: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let data = "";
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(data)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      data = data.slice(end + 4 + length);
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nbackend\n");
      socket.end();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no port");
  return {
    port: address.port,
    open: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

function conf(main: string, port: number, upstream: number): string {
  return `${main}
error_log logs/error.log info;
events { worker_connections 64; }
http {
  access_log logs/access.log;
  upstream one { server 127.0.0.1:${upstream} max_conns=1; }
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "ok\\n"; }
    location /up { proxy_pass http://one; proxy_request_buffering off; }
  }
}
`;
}

function status(reply: Buffer): string {
  const text = reply.toString("latin1");
  return text.slice(0, Math.max(0, text.indexOf("\r\n")));
}

/** Whether the server closed `socket` without a byte, within `ms`. */
function closedWithoutReply(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((done) => {
    let bytes = 0;
    const timer = setTimeout(() => done(false), ms);
    socket.on("data", (chunk: Buffer) => (bytes += chunk.length));
    socket.on("error", () => undefined);
    socket.once("close", () => {
      clearTimeout(timer);
      done(bytes === 0);
    });
  });
}

/** A request on an open keep-alive socket; resolves with the whole reply (Content-Length). */
function ask(socket: Socket, request: string): Promise<string> {
  return new Promise((done, fail) => {
    let reply = "";
    const timer = setTimeout(() => fail(new Error(`no reply to ${request.slice(0, 30)}`)), 3000);
    const onData = (chunk: Buffer): void => {
      reply += chunk.toString("latin1");
      const end = reply.indexOf("\r\n\r\n");
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(reply)?.[1] ?? -1);
      if (end === -1 || length < 0 || reply.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.off("data", onData);
      done(reply);
    };
    socket.on("data", onData);
    socket.write(request, "latin1");
  });
}

describe("errors contained", () => {
  const running: WsgateProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const wsgate of running) await wsgate.stop("SIGKILL");
    for (const close of closers) await close();
  });

  async function start(main: string): Promise<{ wsgate: WsgateProcess; port: number; upstream: number }> {
    const up = await backend();
    closers.push(up.close);
    const port = await freePort();
    const wsgate = await startWsgate({ conf: conf(main, port, up.port), env });
    running.push(wsgate);
    return { wsgate, port, upstream: up.port };
  }

  test("a throw in a request handler closes that connection only, with an alert; the process serves on", async () => {
    const { wsgate, port } = await start("worker_processes 1;");
    const kept = connect(port, "127.0.0.1");
    kept.on("error", () => undefined);
    assert.match(await ask(kept, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), /^HTTP\/1\.1 200 /);

    const victim = connect(port, "127.0.0.1");
    const closed = closedWithoutReply(victim, 3000);
    victim.write("GET /throw-in-handler HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(await closed, true, "the connection whose handler threw is closed without a reply");

    // The connection opened before, and new ones, are served by the same process.
    assert.match(await ask(kept, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n"), /^HTTP\/1\.1 200 /);
    assert.equal(
      status(await exchange(port, "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
      "HTTP/1.1 200 OK",
    );
    kept.destroy();

    await waitFor(() => /uncaught exception: Error: injected: a request handler threw/.test(wsgate.errorLog()));
    const log = wsgate.errorLog();
    assert.match(log, /\[alert\] \d+#\d+: \*\d+ uncaught exception: Error: injected: a request handler threw/);
    assert.doesNotMatch(log, /exited with code|exited on signal/, "the worker did not exit");
    await waitFor(
      () => / "GET \/throw-in-handler HTTP\/1\.1" 500 /.test(wsgate.accessLog()),
      3000,
      "the access-log line",
    );
  });

  test("a throw while a request holds its upstream peer releases the peer (max_conns=1 serves the next)", async () => {
    const { wsgate, port } = await start("worker_processes 1;");
    const victim = connect(port, "127.0.0.1");
    const closed = closedWithoutReply(victim, 3000);
    victim.write("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n");
    // The body comes once the request is on its way to the upstream.
    await new Promise((done) => setTimeout(done, 300));
    victim.write("!THROW!");
    assert.equal(await closed, true);
    await waitFor(() => /injected: a body handler threw/.test(wsgate.errorLog()));
    // With the peer still counted, max_conns=1 would refuse this one (502).
    const reply = await exchange(port, "GET /up HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert.equal(status(reply), "HTTP/1.1 200 OK", reply.toString("latin1"));
    assert.match(
      wsgate.errorLog(),
      /\[alert\] \d+#\d+: \*\d+ uncaught exception: Error: injected: a body handler threw/,
    );
  });

  test("a throw outside any connection ends the worker; the master logs it and starts another", async () => {
    const { wsgate, port } = await start("worker_processes 1;");
    const first = /start worker process (\d+)/.exec(wsgate.errorLog())?.[1];
    assert.ok(first);
    await exchange(port, "GET /throw-outside HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").catch(() => undefined);
    await waitFor(
      () => new RegExp(`worker process ${first} exited with code 1`).test(wsgate.errorLog()),
      5000,
      "the exit",
    );
    await waitFor(
      () => (wsgate.errorLog().match(/start worker process \d+/g) ?? []).length === 2,
      5000,
      "a new worker",
    );
    const log = wsgate.errorLog();
    assert.match(log, /\[alert\] \d+#\d+: uncaught exception: Error: injected: a throw outside any connection/);
    assert.match(log, new RegExp(`\\[notice\\] \\d+#\\d+: worker process ${first} exited with code 1`));
    // The new worker serves (the master holds connections until it is ready).
    assert.equal(
      status(await exchange(port, "GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")),
      "HTTP/1.1 200 OK",
    );
    assert.ok(wsgate.alive());
  });

  test("master_process off: a throw outside any connection is logged and the process exits 1, its pid file removed", async () => {
    const { wsgate, port } = await start("master_process off;");
    await exchange(port, "GET /throw-outside HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").catch(() => undefined);
    await waitFor(() => !wsgate.alive(), 5000, "the exit");
    assert.equal(wsgate.child.exitCode, 1);
    assert.match(
      wsgate.errorLog(),
      /\[alert\] \d+#\d+: uncaught exception: Error: injected: a throw outside any connection/,
    );
    assert.equal(wsgate.readFile("logs/wsgate.pid"), "");
  });
});
