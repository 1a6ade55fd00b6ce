/**
 * What a failed upstream socket means (src/proxy/upstream-failure.ts), in
 * nginx's words, by where the try was.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { timeoutDoing, upstreamErrorVerdict, type FailurePoint } from "../../src/proxy/upstream-failure.js";

const errno = (code: string, message: string): Error => Object.assign(new Error(message), { code });

const point = (changes: Partial<FailurePoint>): FailurePoint => ({
  connected: false,
  unixPeer: undefined,
  requestSent: false,
  responding: undefined,
  ...changes,
});

test("connect() refused: error, and the next peer", () => {
  const verdict = upstreamErrorVerdict(errno("ECONNREFUSED", "connect ECONNREFUSED"), point({}));
  assert.deepEqual(verdict, {
    then: "next",
    level: "error",
    message: "connect() failed (111: Connection refused) while connecting to upstream",
    doing: "connecting to upstream",
  });
});

test("a unix socket: nginx names it, and is louder than error unless the failure is a soft one", () => {
  const refused = upstreamErrorVerdict(errno("ECONNREFUSED", "x"), point({ unixPeer: "unix:/tmp/s" }));
  assert.equal(refused.level, "error");
  assert.equal(
    refused.message,
    "connect() to unix:/tmp/s failed (111: Connection refused) while connecting to upstream",
  );
  const missing = upstreamErrorVerdict(errno("ENOENT", "x"), point({ unixPeer: "unix:/tmp/s" }));
  assert.equal(missing.level, "crit");
  assert.equal(missing.then, "next");
});

test("out of descriptors while connecting: the proxy's own failure, an alert and a 500", () => {
  const verdict = upstreamErrorVerdict(errno("EMFILE", "x"), point({ unixPeer: "unix:/tmp/s" }));
  assert.equal(verdict.then, "fail");
  assert.equal(verdict.level, "alert");
  assert.match(verdict.message, /^socket\(\) failed \(24: Too many open files\) while connecting to upstream$/);
});

test("connected: send() before the request went out, recv() after", () => {
  const before = upstreamErrorVerdict(errno("EPIPE", "x"), point({ connected: true }));
  assert.equal(before.message, "send() failed (32: Broken pipe) while sending request to upstream");
  const after = upstreamErrorVerdict(errno("ECONNRESET", "x"), point({ connected: true, requestSent: true }));
  assert.equal(
    after.message,
    "recv() failed (104: Connection reset by peer) while reading response header from upstream",
  );
  assert.equal(after.then, "next");
});

test("once the response is relayed or tunnelled, the error is only logged", () => {
  const relay = upstreamErrorVerdict(
    errno("ECONNRESET", "x"),
    point({ connected: true, requestSent: true, responding: "relay" }),
  );
  assert.deepEqual(relay, {
    then: "log",
    level: "error",
    message: "recv() failed (104: Connection reset by peer) while reading upstream",
  });
  const tunnel = upstreamErrorVerdict(
    errno("ECONNRESET", "x"),
    point({ connected: true, requestSent: true, responding: "upgrade" }),
  );
  assert.equal(tunnel.message, "recv() failed (104: Connection reset by peer) while proxying upgraded connection");
});

test("each timer names its phase", () => {
  assert.equal(timeoutDoing("connect"), "connecting to upstream");
  assert.equal(timeoutDoing("send"), "sending request to upstream");
  assert.equal(timeoutDoing("read"), "reading response header from upstream");
});
