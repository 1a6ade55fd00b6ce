/**
 * proxy_send_timeout's watch (src/proxy/send-watch.ts) over a writer whose
 * buffered bytes the test sets: the clock runs only while bytes wait, and
 * starts over on progress.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { SendWatch } from "../../src/proxy/send-watch.js";
import { delay } from "../support/wait.js";

const TIMEOUT_MS = 80;

function watched(): { writer: { writableLength: number }; watch: SendWatch; expiries: number[]; started: number } {
  const writer = { writableLength: 0 };
  const expiries: number[] = [];
  const started = Date.now();
  const watch = new SendWatch(writer, TIMEOUT_MS, () => expiries.push(Date.now() - started));
  return { writer, watch, expiries, started };
}

test("a write the socket took at once starts no clock", async () => {
  const { watch, expiries } = watched();
  watch.wrote();
  await delay(TIMEOUT_MS * 2);
  assert.deepEqual(expiries, []);
});

test("bytes that do not move for the timeout: it expires once", async () => {
  const { writer, watch, expiries } = watched();
  writer.writableLength = 1000;
  watch.wrote();
  await delay(TIMEOUT_MS * 3);
  assert.equal(expiries.length, 1);
  assert.ok(expiries[0]! >= TIMEOUT_MS - 5, `${expiries[0]} ms`);
});

test("progress starts the clock over", async () => {
  const { writer, watch, expiries } = watched();
  writer.writableLength = 1000;
  watch.wrote();
  await delay(TIMEOUT_MS * 0.6);
  writer.writableLength = 500;
  watch.flushed();
  await delay(TIMEOUT_MS * 0.6);
  assert.deepEqual(expiries, [], "no expiry: the upstream took some bytes within the timeout");
  await delay(TIMEOUT_MS * 1.5);
  assert.equal(expiries.length, 1);
  assert.ok(expiries[0]! >= TIMEOUT_MS * 1.6 - 5, `${expiries[0]} ms: counted from the last progress`);
});

test("everything flushed: no expiry, and whenFlushed is told", async () => {
  const { writer, watch, expiries } = watched();
  writer.writableLength = 1000;
  watch.wrote();
  let flushed = 0;
  watch.whenFlushed(() => flushed++);
  assert.equal(flushed, 0);
  writer.writableLength = 0;
  watch.flushed();
  assert.equal(flushed, 1);
  await delay(TIMEOUT_MS * 2);
  assert.deepEqual(expiries, []);
  watch.whenFlushed(() => flushed++);
  assert.equal(flushed, 2, "at once when nothing waits");
});

test("stop(): no expiry and no waiter after it", async () => {
  const { writer, watch, expiries } = watched();
  writer.writableLength = 1000;
  watch.wrote();
  let flushed = 0;
  watch.whenFlushed(() => flushed++);
  watch.stop();
  writer.writableLength = 0;
  watch.flushed();
  await delay(TIMEOUT_MS * 2);
  assert.deepEqual(expiries, []);
  assert.equal(flushed, 0);
});

test("a timeout of 0 never expires", async () => {
  const writer = { writableLength: 1000 };
  let expired = false;
  const watch = new SendWatch(writer, 0, () => (expired = true));
  watch.wrote();
  await delay(50);
  assert.equal(expired, false);
});

test("bytes held by a cork are not waiting for the upstream: the clock starts at the write after uncork", async () => {
  const writer = { writableLength: 1000, writableCorked: 1 };
  let expired = false;
  const watch = new SendWatch(writer, TIMEOUT_MS, () => (expired = true));
  watch.wrote();
  await delay(TIMEOUT_MS * 2);
  assert.equal(expired, false);
  writer.writableCorked = 0;
  watch.wrote();
  await delay(TIMEOUT_MS * 2);
  assert.equal(expired, true);
});
