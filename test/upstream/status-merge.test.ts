/**
 * wsgate_upstream_status as the group sees it: the views of several
 * processes merged peer by peer (src/upstream/status-merge.ts).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mergedState, mergeUpstreamStatus } from "../../src/upstream/status-merge.js";
import type { PeerStatus, UpstreamStatus } from "../../src/upstream/status.js";

function peer(address: string, fields: Partial<PeerStatus> = {}): PeerStatus {
  return {
    server: address,
    address,
    backup: false,
    weight: 1,
    state: "up",
    active: 0,
    requests: 0,
    fails: 0,
    max_fails: 1,
    max_conns: 0,
    ...fields,
  };
}

function view(peers: PeerStatus[], idle?: number): UpstreamStatus {
  return {
    upstreams: { u: { method: "round-robin", ...(idle === undefined ? {} : { keepalive: { idle, max: 8 } }), peers } },
  };
}

describe("merging the workers' views of the upstream peers", () => {
  test("the state every view agrees on; down where none is up; partly-down otherwise", () => {
    assert.equal(mergedState(["up", "up"]), "up");
    assert.equal(mergedState(["checked-down", "checked-down"]), "checked-down");
    assert.equal(mergedState(["checked-down", "unavailable"]), "down");
    assert.equal(mergedState(["up", "unavailable", "up"]), "partly-down");
  });

  test("counts add up, the answering process's list and health check stay", () => {
    const own = view(
      [
        peer("127.0.0.1:1", { active: 2, requests: 5, fails: 1, health_check: { passes: 3, fails: 0, last: "ok" } }),
        peer("127.0.0.1:2", { state: "unavailable", requests: 1, fails: 1 }),
      ],
      2,
    );
    const other = view(
      [
        peer("127.0.0.1:2", { state: "up", active: 1, requests: 4 }),
        peer("127.0.0.1:1", { active: 3, requests: 7, fails: 2, health_check: { passes: 9, fails: 0, last: "ok" } }),
        peer("127.0.0.1:9", { active: 100 }),
      ],
      3,
    );
    const merged = mergeUpstreamStatus(own, [other]).upstreams["u"]!;
    assert.deepEqual(merged.keepalive, { idle: 5, max: 8 });
    assert.deepEqual(merged.peers, [
      {
        ...peer("127.0.0.1:1"),
        active: 5,
        requests: 12,
        fails: 3,
        health_check: { passes: 3, fails: 0, last: "ok" },
        workers: 2,
        down_in: 0,
      },
      { ...peer("127.0.0.1:2"), state: "partly-down", active: 1, requests: 5, fails: 1, workers: 2, down_in: 1 },
    ]);
  });

  test("a group or peer another process does not have is counted from the views that have it", () => {
    const own = view([peer("127.0.0.1:1", { active: 1 })]);
    const merged = mergeUpstreamStatus(own, [{ upstreams: {} }, view([peer("127.0.0.1:1", { backup: true })])]);
    assert.deepEqual(merged.upstreams["u"]!.peers, [{ ...peer("127.0.0.1:1", { active: 1 }), workers: 1, down_in: 0 }]);
  });

  test("a single view is left as it is", () => {
    const own = view([peer("127.0.0.1:1")]);
    assert.equal(mergeUpstreamStatus(own, []), own);
  });
});
