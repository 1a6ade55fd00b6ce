/**
 * One upstream try (src/proxy/upstream-attempt.ts) against real sockets: it
 * connects and says so, reports to the peer group exactly once, runs
 * proxy_send_timeout while the upstream does not read and proxy_read_timeout
 * once the request is written, runs its listeners through the guard, and
 * leaves no listener of its own on a socket it let go.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { LocConf, UpstreamServerConf } from "../../src/config/model.js";
import { defaultUpstreamServer } from "../../src/config/modules/upstream.js";
import { UpstreamGroup, type Peer } from "../../src/upstream/group.js";
import type { UpstreamTry, VariableSource } from "../../src/vars/source.js";
import { readResponseHead } from "../../src/proxy/read-response-head.js";
import {
  UpstreamAttempt,
  type AttemptEvents,
  type AttemptTimeout,
  type Guard,
} from "../../src/proxy/upstream-attempt.js";
import { freePort } from "../support/proxy.js";
import { withTimeout } from "../support/wait.js";

const PLACE = { file: "test.conf", line: 1 };

function groupFor(port: number): UpstreamGroup {
  const server: UpstreamServerConf = {
    ...defaultUpstreamServer(`127.0.0.1:${port}`, PLACE),
    addresses: [{ kind: "inet", host: "127.0.0.1", port, text: `127.0.0.1:${port}` }],
  };
  return new UpstreamGroup({ name: "g", servers: [server], implicit: false, place: PLACE });
}

const record = (): UpstreamTry => ({
  addr: "",
  status: 0,
  connectMs: -1,
  headerMs: -1,
  responseMs: -1,
  bytesReceived: 0,
  bytesSent: 0,
  responseHeaders: [],
});

const timeouts = (send: number, read: number): LocConf =>
  ({ proxyConnectTimeoutMs: 5000, proxySendTimeoutMs: send, proxyReadTimeoutMs: read }) as LocConf;

/** A try with its events recorded; a guard that keeps what was thrown. */
function start(group: UpstreamGroup, loc: LocConf) {
  const peer: Peer = group.select({ remoteAddress: "127.0.0.1" } as unknown as VariableSource).pick(Date.now())!;
  const seen: { connected: number; errors: Error[]; timeouts: AttemptTimeout[]; thrown: unknown[] } = {
    connected: 0,
    errors: [],
    timeouts: [],
    thrown: [],
  };
  const waiters: Array<() => void> = [];
  const wake = (): void => waiters.splice(0).forEach((w) => w());
  const events: AttemptEvents = {
    connected: () => (seen.connected++, wake()),
    error: (err) => (seen.errors.push(err), wake()),
    timedOut: (which) => (seen.timeouts.push(which), wake()),
  };
  const guard: Guard =
    (fn) =>
    (...args) => {
      try {
        fn(...args);
      } catch (err) {
        seen.thrown.push(err);
        wake();
      }
    };
  const attempt = new UpstreamAttempt(group, peer, record(), loc, events, guard);
  const next = (what: string): Promise<void> =>
    withTimeout(new Promise<void>((done) => waiters.push(done)), 3000, what);
  return { peer, attempt, seen, next };
}

describe("an upstream attempt", () => {
  let server: Server;
  let port: number;
  /** Sockets accepted; `answer` set: each request gets it back. */
  const accepted: Socket[] = [];
  let mode: "deaf" | "silent" | "answer" = "silent";
  before(async () => {
    server = createServer({ pauseOnConnect: true }, (socket) => {
      accepted.push(socket);
      socket.on("error", () => undefined);
      if (mode === "deaf") return;
      socket.resume();
      if (mode === "answer") socket.once("data", () => socket.write("HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n"));
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((done) => server.close(() => done()));
  });

  test("connects, frees its peer once, and leaves no listener of its own", async () => {
    mode = "silent";
    const group = groupFor(port);
    const { peer, attempt, seen, next } = start(group, timeouts(1000, 1000));
    assert.equal(peer.active, 1);
    await next("connect");
    assert.equal(seen.connected, 1);
    assert.ok(attempt.record.connectMs >= 0);
    const before = { data: attempt.socket.listenerCount("data"), timeout: attempt.socket.listenerCount("timeout") };
    readResponseHead(attempt, { head: () => undefined, invalid: () => undefined, closed: () => undefined });
    assert.equal(attempt.socket.listenerCount("data"), before.data + 1);
    assert.equal(attempt.free("ok"), false);
    assert.equal(attempt.free("failed"), false, "a second free is nothing");
    assert.equal(peer.active, 0);
    attempt.destroy();
    assert.equal(attempt.live, false);
    assert.equal(attempt.socket.listenerCount("data"), 0);
    assert.equal(attempt.socket.listenerCount("timeout"), before.timeout - 1);
    assert.equal(attempt.socket.listenerCount("connect"), 0);
    assert.ok(attempt.socket.listenerCount("error") >= 1, "an error after that is still handled");
  });

  test("handed to a tunnel, the try keeps no listener; its TunnelledTry holds the peer until the tunnel ends", async () => {
    mode = "silent";
    const group = groupFor(port);
    const { peer, attempt, next } = start(group, timeouts(1000, 1000));
    await next("connect");
    const before = {
      error: attempt.socket.listenerCount("error"),
      timeout: attempt.socket.listenerCount("timeout"),
      connect: attempt.socket.listenerCount("connect"),
    };
    readResponseHead(attempt, { head: () => undefined, invalid: () => undefined, closed: () => undefined });
    const tried = attempt.handOverToTunnel();
    assert.equal(attempt.socket.listenerCount("data"), 0);
    assert.equal(attempt.socket.listenerCount("timeout"), before.timeout - 1);
    assert.equal(attempt.socket.listenerCount("connect"), before.connect - 1);
    assert.equal(attempt.socket.listenerCount("error"), before.error - 1, "the tunnel's record names its errors");
    assert.equal(attempt.free("ok"), false, "the try no longer frees the peer");
    assert.equal(peer.active, 1, "the tunnel holds the peer's connection count");
    tried.close([1234, 56]);
    assert.equal(peer.active, 0);
    assert.deepEqual([tried.record.bytesReceived, tried.record.bytesSent], [1234, 56], "the native tunnel's counts");
    tried.free();
    assert.equal(peer.active, 0, "freed once");
    attempt.socket.on("error", () => undefined);
    attempt.destroy();
    assert.equal(attempt.socket.listenerCount("connect"), 0);
  });

  test("a refused connection is an error event", async () => {
    const group = groupFor(await freePort());
    const { attempt, seen, next } = start(group, timeouts(1000, 1000));
    await next("the error");
    assert.equal((seen.errors[0] as NodeJS.ErrnoException).code, "ECONNREFUSED");
    assert.equal(attempt.connected, false);
    attempt.destroy();
    attempt.free("failed");
  });

  test("an upstream that does not read: proxy_send_timeout, not proxy_read_timeout", async () => {
    mode = "deaf";
    const group = groupFor(port);
    const { attempt, seen, next } = start(group, timeouts(150, 60_000));
    await next("connect");
    const piece = Buffer.alloc(1024 * 1024, 0x61);
    // Far more than the kernel holds for a reader that never reads.
    for (let i = 0; i < 32; i++) attempt.write(piece);
    const started = Date.now();
    await next("the send timeout");
    assert.deepEqual(seen.timeouts, ["send"]);
    assert.ok(Date.now() - started >= 140);
    attempt.destroy();
    attempt.free("ok");
  });

  test("a request written whole: proxy_read_timeout runs until the head", async () => {
    mode = "silent";
    const group = groupFor(port);
    const { attempt, seen, next } = start(group, timeouts(60_000, 150));
    await next("connect");
    attempt.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    attempt.headWritten(true);
    let written = false;
    attempt.requestWritten(() => (written = true));
    await next("the read timeout");
    assert.equal(written, true);
    assert.deepEqual(seen.timeouts, ["read"]);
    attempt.destroy();
    attempt.free("ok");
  });

  test("the response head is read; a throw in a listener goes to the guard", async () => {
    mode = "answer";
    const group = groupFor(port);
    const { attempt, seen, next } = start(group, timeouts(1000, 1000));
    await next("connect");
    readResponseHead(attempt, {
      head: (head) => {
        assert.equal(head.status, 204);
        throw new TypeError("in the head listener");
      },
      invalid: () => assert.fail("invalid"),
      closed: () => assert.fail("closed"),
    });
    attempt.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await next("the guarded throw");
    assert.equal((seen.thrown[0] as Error).message, "in the head listener");
    assert.ok(attempt.record.headerMs >= 0);
    attempt.destroy();
    attempt.free("ok");
  });
});
