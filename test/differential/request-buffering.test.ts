/**
 * proxy_request_buffering against Debian's nginx: what the backend receives,
 * byte for byte, for bodies with a length and chunked, small (in memory) and
 * past client_body_buffer_size (a temporary file, with nginx's warn line),
 * to HTTP/1.0 and HTTP/1.1 upstreams; a client that leaves mid-body never
 * reaches the backend; `off` streams; "100 Continue" comes before the body.
 * Then wsgate alone: a 50 MB body goes through a temporary file with memory
 * bounded, and no temporary file stays open once requests are over.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { ChunkedDecoder } from "../../src/core/chunked.js";
import { nginxRuns, startPeer, type Peer } from "./peers.js";
import { until } from "../support/wait.js";

/** One request as the backend read it: its bytes (the first MB), and how many there were. */
interface Seen {
  readonly target: string;
  raw: Buffer;
  bytes: number;
  complete: boolean;
}

interface RawBackend {
  readonly port: number;
  readonly seen: Seen[];
  connections: number;
  close(): Promise<void>;
}

const KEEP = 1024 * 1024;

/** Reads each request whole (length or chunked), records it, answers 200 with the body's length. */
async function startRawBackend(): Promise<RawBackend> {
  const sockets = new Set<Socket>();
  const backend: RawBackend = { port: 0, seen: [], connections: 0, close: async () => undefined };
  const server: Server = createServer((socket) => {
    backend.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let head: Buffer | undefined = Buffer.alloc(0);
    let seen: Seen | undefined;
    let left = 0;
    let decoder: ChunkedDecoder | undefined;
    let bodyLength = 0;
    const finish = (): void => {
      seen!.complete = true;
      socket.end(
        `HTTP/1.1 200 OK\r\nContent-Length: ${String(bodyLength).length}\r\nConnection: close\r\n\r\n${bodyLength}`,
      );
    };
    const body = (chunk: Buffer): void => {
      if (decoder) {
        const result = decoder.feed(chunk, (data) => (bodyLength += data.length));
        if (result === "done") finish();
        else if (result === "invalid") socket.destroy();
        return;
      }
      bodyLength += chunk.length;
      left -= chunk.length;
      if (left <= 0) finish();
    };
    socket.on("data", (chunk: Buffer) => {
      if (seen) {
        seen.bytes += chunk.length;
        if (seen.raw.length < KEEP) seen.raw = Buffer.concat([seen.raw, chunk]);
        body(chunk);
        return;
      }
      head = Buffer.concat([head!, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      const text = head.toString("latin1", 0, end);
      seen = { target: text.split(" ")[1] ?? "", raw: head, bytes: head.length, complete: false };
      backend.seen.push(seen);
      const rest = head.subarray(end + 4);
      head = undefined;
      if (/\r\ntransfer-encoding: *chunked/i.test(text)) decoder = new ChunkedDecoder();
      else left = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
      if (!decoder && left === 0) finish();
      else if (rest.length > 0) body(rest);
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  return Object.assign(backend, {
    port: typeof address === "object" && address ? address.port : 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  });
}

/** A client connection that collects what comes back. */
function client(port: number): { socket: Socket; reply: () => string; closed: Promise<void> } {
  const socket = connect(port, "127.0.0.1");
  let reply = "";
  socket.on("data", (chunk: Buffer) => (reply += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((done) => socket.on("close", () => done()));
  return { socket, reply: () => reply, closed };
}

/** Send the whole request; the reply once the server closes. */
async function send(port: number, request: Buffer): Promise<string> {
  const c = client(port);
  c.socket.write(request);
  await withBound(c.closed, c.socket, "the reply");
  return c.reply();
}

async function withBound(promise: Promise<void>, socket: Socket, what: string): Promise<void> {
  const timer = setTimeout(() => socket.destroy(new Error(`no end of ${what}`)), 8000);
  await promise;
  clearTimeout(timer);
}

function pattern(length: number, seed: number): Buffer {
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = 97 + ((i * 7 + seed) % 26);
  return body;
}

function lengthRequest(target: string, body: Buffer): Buffer {
  const head = `POST ${target} HTTP/1.1\r\nHost: test\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

function chunkedRequest(target: string, body: Buffer, piece: number): Buffer {
  const parts: Buffer[] = [
    Buffer.from(`POST ${target} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`),
  ];
  for (let at = 0; at < body.length; at += piece) {
    const data = body.subarray(at, at + piece);
    parts.push(Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

/** Warn lines, without time, pid and connection number, the prefix named PREFIX. */
function warnLines(peer: Peer): string[] {
  return peer
    .errorLog()
    .split("\n")
    .filter((line) => / \[warn\] /.test(line))
    .map((line) => line.replace(/^\S+ \S+ \[warn\] \d+#\d+: \*\d+ /, "").replaceAll(peer.prefix, "PREFIX"));
}

function statuses(peer: Peer): string[] {
  return peer
    .accessLog()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.replace(/^.*?"([^"]*)" (\d+) (\d+) .*$/, "$1 $2 $3"));
}

function locations(backendPort: number, extra = ""): string {
  const to = `proxy_pass http://127.0.0.1:${backendPort};`;
  return `server {
    listen 127.0.0.1:PORT;
    client_max_body_size 0;
    client_body_temp_path body 1 2;
    location /v10/ { ${to} }
    location /v11/ { ${to} proxy_http_version 1.1; }
    location /off10/ { ${to} proxy_request_buffering off; }
    location /off11/ { ${to} proxy_http_version 1.1; proxy_request_buffering off; }
    location /nobody/ { ${to} proxy_pass_request_body off; proxy_set_header Content-Length ""; }
    ${extra}
  }`;
}

/** Open descriptors of process `pid` that name a deleted file under `dir`. */
function deletedFilesOpen(pid: number, dir: string): string[] {
  const fdDir = `/proc/${pid}/fd`;
  const open: string[] = [];
  for (const fd of readdirSync(fdDir)) {
    try {
      const target = readlinkSync(join(fdDir, fd));
      if (target.startsWith(dir)) open.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return open;
}

function pidOf(peer: Peer): number {
  return Number(readFileSync(join(peer.prefix, "logs", "nginx.pid"), "latin1").trim());
}

describe("proxy_request_buffering, against nginx", { skip: nginxRuns() ? false : "nginx is not installed" }, () => {
  let backend: RawBackend;
  let nginx: Peer;
  let wsgate: Peer;

  before(async () => {
    backend = await startRawBackend();
    nginx = await startPeer("nginx", locations(backend.port));
    wsgate = await startPeer("wsgate", locations(backend.port));
  });

  after(async () => {
    await nginx?.stop();
    await wsgate?.stop();
    await backend?.close();
  });

  /** The request through each peer; what the backend read of it each time. */
  async function both(request: Buffer): Promise<Seen[]> {
    const seen: Seen[] = [];
    for (const peer of [nginx, wsgate]) {
      const reply = await send(peer.port, request);
      assert.match(reply, /^HTTP\/1\.1 200 /, `${peer.name}: ${reply.slice(0, 200)}`);
      const last = backend.seen.at(-1)!;
      assert.ok(last.complete, `${peer.name}: the backend read a whole request`);
      seen.push(last);
    }
    return seen;
  }

  test("the backend receives the same bytes: lengths and chunked, in memory and from a file, 1.0 and 1.1", async () => {
    const cases: Array<[string, Buffer, number]> = [];
    let seed = 0;
    for (const version of ["v10", "v11"]) {
      for (const size of [100, 8000, 40_000]) {
        const body = pattern(size, ++seed);
        cases.push([`/${version}/length-${size}`, lengthRequest(`/${version}/length-${size}`, body), size]);
        const target = `/${version}/chunked-${size}`;
        cases.push([target, chunkedRequest(target, body, 3000), size]);
      }
    }
    for (const [target, request, size] of cases) {
      const [fromNginx, fromWsgate] = await both(request);
      assert.equal(fromNginx!.target, target);
      assert.equal(fromWsgate!.raw.toString("latin1"), fromNginx!.raw.toString("latin1"), target);
      // Buffered: a chunked body is de-chunked and sent with its length, to HTTP/1.1 upstreams too.
      const head = fromWsgate!.raw.toString("latin1", 0, fromWsgate!.raw.indexOf("\r\n\r\n"));
      assert.match(head, new RegExp(`\\r\\nContent-Length: ${size}(\\r\\n|$)`), target);
      assert.doesNotMatch(head, /transfer-encoding/i, target);
    }
    // The bodies past client_body_buffer_size went to temporary files, nginx's warn line for each, same names.
    await until(() => warnLines(wsgate).length >= 4, 3000, "wsgate's warn lines");
    const lines = warnLines(wsgate);
    assert.deepEqual(lines, warnLines(nginx));
    assert.equal(lines.length, 4, lines.join("\n"));
    assert.match(
      lines[0]!,
      /^a client request body is buffered to a temporary file PREFIX\/body\/1\/00\/0000000001, client: 127\.0\.0\.1, server: , request: "POST \/v10\/length-40000 HTTP\/1\.1", host: "test"$/,
    );
    assert.deepEqual(statuses(wsgate), statuses(nginx));
    // Every temporary file was unlinked at once and is closed now.
    assert.deepEqual(
      readdirSync(join(wsgate.prefix, "body"), { recursive: true }).filter((name) => /\d{10}$/.test(String(name))),
      [],
    );
    await until(
      () => deletedFilesOpen(pidOf(wsgate), join(wsgate.prefix, "body")).length === 0,
      3000,
      "no temp file open",
    );
  });

  test("a client that leaves or resets mid-body never reaches the backend; both log 400", async () => {
    const before = backend.connections;
    for (const [peer, index] of [
      [nginx, 0],
      [wsgate, 1],
    ] as const) {
      for (const target of ["/v11/abort-memory", "/v11/abort-file", "/v11/abort-reset"]) {
        const c = client(peer.port);
        const size = target.endsWith("memory") ? 2000 : 30_000;
        c.socket.write(lengthRequest(`${target}-${index}`, pattern(100_000, 1)).subarray(0, size));
        // No event tells the client that the server has read the partial body before the client leaves.
        await new Promise((done) => setTimeout(done, 100));
        if (target.endsWith("reset")) c.socket.resetAndDestroy();
        else c.socket.end();
        await withBound(c.closed, c.socket, "the close");
        await until(() => peer.accessLog().includes(`${target}-${index}`), 3000, `${peer.name}'s log line`);
      }
    }
    assert.equal(backend.connections, before, "no connection to the backend");
    const abortLines = (peer: Peer): string[] => statuses(peer).filter((line) => line.includes("/abort-"));
    assert.deepEqual(
      abortLines(wsgate),
      abortLines(nginx).map((line) => line.replace("-0 ", "-1 ")),
    );
    assert.deepEqual(abortLines(wsgate), [
      "POST /v11/abort-memory-1 HTTP/1.1 400 0",
      "POST /v11/abort-file-1 HTTP/1.1 400 0",
      "POST /v11/abort-reset-1 HTTP/1.1 400 0",
    ]);
    // The same [info] lines (a close, a close, a reset), and a file only for the two larger bodies.
    const lines = (peer: Peer): string[] =>
      peer
        .errorLog()
        .split("\n")
        .filter((line) => line.includes("/abort-"))
        .map((line) =>
          line
            .replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: \*\d+ /, "$1 ")
            .replace(/\d{10}/, "N")
            .replaceAll(peer.prefix, "PREFIX")
            .replace(/-[01] HTTP/, " HTTP"),
        );
    assert.deepEqual(lines(wsgate), lines(nginx));
    assert.equal(lines(wsgate).filter((line) => line.startsWith("[warn]")).length, 2);
    await until(
      () => deletedFilesOpen(pidOf(wsgate), join(wsgate.prefix, "body")).length === 0,
      3000,
      "no temp file open",
    );
  });

  test("off: the backend has the head before the body is complete; chunked stays chunked to 1.1", async () => {
    for (const peer of [nginx, wsgate]) {
      for (const [target, chunked] of [
        ["/off11/length", false],
        ["/off11/chunked", true],
      ] as const) {
        const body = pattern(20_000, 3);
        const name = `${target}-${peer.name}`;
        const request = chunked ? chunkedRequest(name, body, 5000) : lengthRequest(name, body);
        const c = client(peer.port);
        c.socket.write(request.subarray(0, request.length - 9000));
        const seen = await until(
          () => backend.seen.find((s) => s.target === name),
          3000,
          `${peer.name}: ${name}'s head`,
        );
        assert.equal(seen.complete, false);
        c.socket.write(request.subarray(request.length - 9000));
        await withBound(c.closed, c.socket, "the reply");
        assert.match(c.reply(), /^HTTP\/1\.1 200 [^]*\r\n\r\n20000$/);
        const head = seen.raw.toString("latin1", 0, seen.raw.indexOf("\r\n\r\n"));
        if (chunked) assert.match(head, /\r\nTransfer-Encoding: chunked/, `${peer.name} ${name}`);
        else assert.match(head, /\r\nContent-Length: 20000/, `${peer.name} ${name}`);
      }
    }
    // To an HTTP/1.0 upstream a chunked body is read whole even so, and sent with its length.
    const [fromNginx, fromWsgate] = await both(chunkedRequest("/off10/chunked", pattern(20_000, 4), 5000));
    assert.equal(fromWsgate!.raw.toString("latin1"), fromNginx!.raw.toString("latin1"));
  });

  test("proxy_pass_request_body off: the body is read first and dropped; the connection goes on", async () => {
    const replies: string[] = [];
    const seen: string[] = [];
    for (const peer of [nginx, wsgate]) {
      const first = lengthRequest(`/nobody/${peer.name}`, pattern(30_000, 6)).toString("latin1");
      const next = `GET /v11/next-${peer.name} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`;
      const reply = await send(peer.port, Buffer.from(first.replace("Connection: close\r\n", "") + next, "latin1"));
      replies.push(reply.replace(/\r\n(Date|Server): [^\r]*/g, "").replaceAll(peer.name, "PEER"));
      for (const target of [`/nobody/${peer.name}`, `/v11/next-${peer.name}`]) {
        const request = backend.seen.find((s) => s.target === target);
        assert.ok(request, `${peer.name}: ${target} at the backend`);
        seen.push(request.raw.toString("latin1").replaceAll(peer.name, "PEER"));
      }
    }
    assert.equal(replies[1], replies[0]);
    assert.match(replies[1]!, /^HTTP\/1\.1 200 [^]*\r\n\r\n0HTTP\/1\.1 200 [^]*\r\n\r\n0$/);
    assert.deepEqual(seen.slice(2), seen.slice(0, 2));
    assert.equal(warnLines(wsgate).filter((line) => line.includes("/nobody/")).length, 1);
    assert.deepEqual(
      warnLines(wsgate).filter((line) => line.includes("/nobody/")),
      warnLines(nginx)
        .filter((line) => line.includes("/nobody/"))
        .map((line) => line.replaceAll("/nobody/nginx", "/nobody/wsgate")),
    );
  });

  test("Expect: 100-continue is answered before the body is read", async () => {
    for (const peer of [nginx, wsgate]) {
      const c = client(peer.port);
      const body = pattern(20_000, 5);
      c.socket.write(
        `POST /v11/expect HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      await until(() => c.reply().startsWith("HTTP/1.1 100 Continue\r\n\r\n"), 3000, `${peer.name}'s 100 Continue`);
      c.socket.write(body);
      await withBound(c.closed, c.socket, "the reply");
      assert.match(c.reply(), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*\r\n\r\n20000$/);
    }
  });
});

describe("proxy_request_buffering: a large body, memory bounded", () => {
  let backend: RawBackend;
  let wsgate: Peer;

  before(async () => {
    backend = await startRawBackend();
    const broken = `location /broken/ { proxy_pass http://127.0.0.1:${backend.port}; client_body_temp_path /dev/null/body; }`;
    wsgate = await startPeer("wsgate", locations(backend.port, broken));
  });

  after(async () => {
    await wsgate?.stop();
    await backend?.close();
  });

  test("a temporary file that cannot be made: nginx's crit line and 500, the backend never asked", async () => {
    const connections = backend.connections;
    const reply = await send(wsgate.port, lengthRequest("/broken/x", pattern(40_000, 2)));
    assert.match(reply, /^HTTP\/1\.1 500 /);
    assert.equal(backend.connections, connections);
    await until(() => wsgate.accessLog().includes("/broken/x"), 3000, "the log line");
    assert.match(
      wsgate.errorLog(),
      /\[crit\] \d+#\d+: \*\d+ open\(\) "\/dev\/null\/body\/\d{10}" failed \(20: Not a directory\), client: 127\.0\.0\.1, server: , request: "POST \/broken\/x HTTP\/1\.1", host: "test"/,
    );
  });

  test("100 MB goes through a temporary file; the process's peak memory grows far less than that", async () => {
    const pid = pidOf(wsgate);
    const peak = (): number =>
      Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1]) * 1024;
    // Warm up: one small request, so the peak counts the code's own working set.
    await send(wsgate.port, lengthRequest("/v11/warm", pattern(100, 1)));
    const start = peak();
    const size = 100 * 1024 * 1024;
    const c = client(wsgate.port);
    c.socket.write(`POST /v11/large HTTP/1.1\r\nHost: test\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
    const piece = Buffer.alloc(1024 * 1024, 120);
    for (let sent = 0; sent < size; sent += piece.length) {
      if (!c.socket.write(piece)) await new Promise((done) => c.socket.once("drain", done));
    }
    const timer = setTimeout(() => c.socket.destroy(), 60_000);
    await c.closed;
    clearTimeout(timer);
    assert.match(c.reply(), new RegExp(`\\r\\n\\r\\n${size}$`));
    const seen = backend.seen.find((s) => s.target === "/v11/large")!;
    assert.equal(seen.bytes - seen.raw.indexOf("\r\n\r\n") - 4, size);
    const growth = peak() - start;
    assert.ok(growth < size / 2, `peak RSS grew by ${growth} bytes for a ${size}-byte body`);
    assert.match(wsgate.errorLog(), /\[warn\] .* a client request body is buffered to a temporary file /);
    await until(() => deletedFilesOpen(pid, join(wsgate.prefix, "body")).length === 0, 3000, "the temp file closed");
  });
});
