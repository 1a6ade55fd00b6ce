/**
 * Fixed deadlines on one shared timer: each owner is called once its time has
 * passed (not before, and within a few ms after), in order; clearing or
 * setting again replaces a deadline; an owner may set its deadline again from
 * its own call.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { Deadline, armedDeadlines } from "../../src/http/deadlines.js";

function owner(log: Array<[string, number]>, name: string, then?: () => void): { onDeadline(): void } {
  return {
    onDeadline() {
      log.push([name, performance.now()]);
      then?.();
    },
  };
}

test("deadlines of several durations fire at their time, in order; cleared ones never", async () => {
  const log: Array<[string, number]> = [];
  const start = performance.now();
  const a = new Deadline(owner(log, "a"));
  const b = new Deadline(owner(log, "b"));
  const c = new Deadline(owner(log, "c"));
  const d = new Deadline(owner(log, "d"));
  a.set(120);
  b.set(40);
  c.set(80);
  d.set(60);
  d.clear();
  c.set(100); // set again: replaces 80
  assert.equal(armedDeadlines(), 3);
  await new Promise((done) => setTimeout(done, 200));
  assert.deepEqual(
    log.map(([name]) => name),
    ["b", "c", "a"],
  );
  const expected: Record<string, number> = { a: 120, b: 40, c: 100 };
  for (const [name, at] of log) {
    const after = at - start;
    assert.ok(after >= expected[name]! - 1 && after < expected[name]! + 40, `${name} fired after ${after} ms`);
  }
  assert.equal(armedDeadlines(), 0);
});

test("an owner may set its deadline again when called; a thousand deadlines cost one timer", async () => {
  let calls = 0;
  const again: { onDeadline(): void } = {
    onDeadline() {
      if (++calls < 3) self.set(20);
    },
  };
  const self = new Deadline(again);
  self.set(20);
  const many = Array.from({ length: 1000 }, () => new Deadline({ onDeadline: () => undefined }));
  for (const deadline of many) deadline.set(50);
  assert.equal(armedDeadlines(), 1001);
  await new Promise((done) => setTimeout(done, 150));
  assert.equal(calls, 3);
  assert.equal(armedDeadlines(), 0);
  assert.ok(!self.armed);
});
