/**
 * proxy_send_timeout against nginx: an upstream that accepts the connection
 * and never reads. The client sends a body far larger than the kernel's
 * buffers, so the writes to the upstream stop making progress; nginx times
 * out after proxy_send_timeout "while sending request to upstream" and answers
 * 504 (ngx_http_upstream_send_request_handler: c->write->timedout →
 * ngx_http_upstream_next(NGX_HTTP_UPSTREAM_FT_TIMEOUT)), whether the body is
 * streamed (proxy_request_buffering off) or read whole first (on). The long
 * proxy_read_timeout shows the two timers are independent. With two peers, a
 * PUT whose body was read whole goes on to the second (proxy_next_upstream
 * timeout), a POST does not (non_idempotent is not listed); max_fails=0 keeps
 * both peers in the running.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { comparableErrors, listenTracked, peersWith, skipWithoutNginx, type ScriptedBackend } from "./peers.js";
import { linesEventually } from "../support/sockets.js";

const skip = skipWithoutNginx();

const SEND_TIMEOUT_S = 2;
/** Far past what loopback's socket buffers hold for a reader that never reads. */
const BODY_BYTES = 32 * 1024 * 1024;

/** Accepts and never reads a byte. */
function startDeafBackend(): Promise<ScriptedBackend> {
  return listenTracked(() => undefined, { pauseOnConnect: true });
}

const conf = (deaf: number, deaf2: number): string => `
  upstream pair { server 127.0.0.1:${deaf} max_fails=0; server 127.0.0.1:${deaf2} max_fails=0; }
  server {
    listen PORT;
    client_max_body_size 0;
    proxy_send_timeout ${SEND_TIMEOUT_S}s;
    proxy_read_timeout 30s;
    location /streamed { proxy_pass http://127.0.0.1:${deaf}; proxy_request_buffering off; }
    location /buffered { proxy_pass http://127.0.0.1:${deaf}; proxy_request_buffering on; }
    location /pair { proxy_pass http://pair; proxy_request_buffering on; }
  }`;

/** POST a large body (with back-pressure) and wait for the status line: it and the seconds it took. */
function postLarge(port: number, path: string, method = "POST"): Promise<{ status: string; seconds: number }> {
  return new Promise((done, fail) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no status line for ${path} within 10 s`));
    }, 10_000);
    const finish = (status: string): void => {
      clearTimeout(timer);
      socket.destroy();
      done({ status, seconds: (Date.now() - started) / 1000 });
    };
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      const end = reply.indexOf("\r\n");
      if (end !== -1) finish(reply.slice(0, end));
    });
    socket.on("error", () => undefined);
    socket.on("close", () => finish(reply === "" ? "(closed without a response)" : reply));
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const pump = (): void => {
      while (sent < BODY_BYTES && !socket.destroyed) {
        sent += piece.length;
        if (!socket.write(piece)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
}

describe("differential: proxy_send_timeout", { skip }, () => {
  let deaf: { port: number; close(): Promise<void> };
  let deaf2: { port: number; close(): Promise<void> };
  const peers = peersWith(
    async () => {
      deaf = await startDeafBackend();
      deaf2 = await startDeafBackend();
      return conf(deaf.port, deaf2.port);
    },
    async () => {
      await deaf?.close();
      await deaf2?.close();
    },
  );

  for (const path of ["/streamed", "/buffered"]) {
    test(`an upstream that never reads a ${path} body: 504 after proxy_send_timeout`, async () => {
      const [nginx, wsgate] = await Promise.all([
        postLarge(peers.nginx!.port, path),
        postLarge(peers.wsgate!.port, path),
      ]);
      assert.equal(nginx.status, "HTTP/1.1 504 Gateway Time-out");
      assert.equal(wsgate.status, nginx.status);
      for (const { seconds } of [nginx, wsgate]) {
        // The timer starts once the writes stop moving (after the buffers filled, and after the
        // whole body was read when buffered): at least the timeout, well before proxy_read_timeout.
        assert.ok(seconds >= SEND_TIMEOUT_S - 0.05 && seconds < SEND_TIMEOUT_S + 2.5, `${seconds} s`);
      }
    });
  }

  test("two peers: a PUT read whole tries the second after the first timed out; a POST does not", async () => {
    const [nginxPut, wsgatePut] = await Promise.all([
      postLarge(peers.nginx!.port, "/pair", "PUT"),
      postLarge(peers.wsgate!.port, "/pair", "PUT"),
    ]);
    assert.equal(nginxPut.status, "HTTP/1.1 504 Gateway Time-out");
    assert.equal(wsgatePut.status, nginxPut.status);
    for (const { seconds } of [nginxPut, wsgatePut]) assert.ok(seconds >= 2 * SEND_TIMEOUT_S - 0.05, `${seconds} s`);
    const [nginxPost, wsgatePost] = await Promise.all([
      postLarge(peers.nginx!.port, "/pair"),
      postLarge(peers.wsgate!.port, "/pair"),
    ]);
    assert.equal(nginxPost.status, "HTTP/1.1 504 Gateway Time-out");
    assert.equal(wsgatePost.status, nginxPost.status);
    for (const { seconds } of [nginxPost, wsgatePost]) assert.ok(seconds < 2 * SEND_TIMEOUT_S, `${seconds} s`);
  });

  test("the error-log lines match", async () => {
    const expected = comparableErrors(peers.nginx!.errorLog());
    await linesEventually(() => comparableErrors(peers.wsgate!.errorLog()).join("\n"), expected.length);
    assert.equal(expected.length, 5);
    assert.ok(expected.every((line) => line.includes("while sending request to upstream")));
    assert.match(expected[0]!, /upstream timed out \(110: Connection timed out\) while sending request to upstream/);
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), expected);
  });
});
