/**
 * The proxy's phases (src/proxy/phase.ts): the moves the table allows, and
 * the ones it refuses.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { canMove, responseStarted, tryUnderWay, type Phase } from "../../src/proxy/phase.js";

const PHASES: readonly Phase[] = [
  "start",
  "read request body",
  "select peer",
  "connect",
  "send request",
  "read response head",
  "relay",
  "upgrade",
  "intercept",
  "finished",
];

test("every phase but finished may end the request; finished goes nowhere", () => {
  for (const phase of PHASES) {
    if (phase === "finished") continue;
    assert.equal(canMove(phase, "finished"), true, phase);
  }
  for (const phase of PHASES) assert.equal(canMove("finished", phase), false, phase);
});

test("the way through: body first or not, a cached connection skips connect, the head after the request", () => {
  const path: Array<readonly [Phase, Phase]> = [
    ["start", "read request body"],
    ["start", "select peer"],
    ["read request body", "select peer"],
    ["select peer", "connect"],
    ["select peer", "send request"],
    ["connect", "send request"],
    ["send request", "read response head"],
  ];
  for (const [from, to] of path) assert.equal(canMove(from, to), true, `${from} → ${to}`);
});

test("a response head is taken while sending or after; a failed try selects the next peer", () => {
  for (const from of ["send request", "read response head"] as const) {
    for (const to of ["relay", "upgrade", "intercept", "select peer"] as const) {
      assert.equal(canMove(from, to), true, `${from} → ${to}`);
    }
  }
  assert.equal(canMove("connect", "select peer"), true);
});

test("no step back once the response is the upstream's, and no skipping ahead", () => {
  for (const from of ["relay", "upgrade", "intercept"] as const) {
    for (const to of PHASES) if (to !== "finished") assert.equal(canMove(from, to), false, `${from} → ${to}`);
  }
  assert.equal(canMove("start", "connect"), false);
  assert.equal(canMove("select peer", "relay"), false);
  assert.equal(canMove("connect", "relay"), false);
  assert.equal(canMove("read request body", "send request"), false);
  assert.equal(canMove("read response head", "send request"), false);
});

test("responseStarted and tryUnderWay name the phases they cover", () => {
  assert.deepEqual(
    PHASES.filter((phase) => responseStarted(phase)),
    ["relay", "upgrade", "intercept"],
  );
  assert.deepEqual(
    PHASES.filter((phase) => tryUnderWay(phase)),
    ["connect", "send request", "read response head"],
  );
});
