/**
 * The shared zones' store on its own, with a clock the test moves: limit_conn
 * slots per holder (a holder's exit gives its slots back, a slot not held is
 * not given back twice), a zone's bounded room, the leaky bucket's
 * arithmetic in thousandths (nginx's ngx_http_limit_req_lookup/account), the
 * forced expiry of the oldest entry when a limit_req zone is full, the
 * allocation failure, and the reload checks (same key, zones retained).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ZoneStore, zoneIdentity } from "../../src/http/zone-store.js";
import type { ReqLimit, ZoneRef } from "../../src/http/shared-zones.js";
import { entryCost, REQ_NODE, zoneCapacity } from "../../src/http/zone-capacity.js";

const conn: ZoneRef = { kind: "limit_conn", name: "perip", size: 1024 * 1024, key: "$binary_remote_addr" };
const req: ZoneRef = { kind: "limit_req", name: "one", size: 1024 * 1024, key: "$binary_remote_addr" };

function limit(zone: ZoneRef, key: string | null, burst = 0, delay = 0, rate = 1000): ReqLimit {
  return { zone, key, rate, burst, delay };
}

describe("shared zones: limit_conn", () => {
  test("slots up to the limit, per key; given back by their holder; a holder's exit gives back its slots", () => {
    const store = new ZoneStore();
    const take = (holder: number, key = "a"): string =>
      store.apply({ op: "conn-take", zone: conn, key, limit: 2 }, holder);
    assert.equal(take(1), "passed");
    assert.equal(take(2), "passed");
    assert.equal(take(1), "limited");
    assert.equal(take(1, "b"), "passed", "another key has its own count");
    // Holder 3 never held "a": its give changes nothing.
    store.apply({ op: "conn-give", zone: conn, key: "a" }, 3);
    assert.equal(store.connHeld(conn, "a"), 2);
    store.apply({ op: "conn-give", zone: conn, key: "a" }, 2);
    assert.equal(store.connHeld(conn, "a"), 1);
    store.releaseHolder(1);
    assert.equal(store.connHeld(conn, "a"), 0);
    assert.equal(store.connHeld(conn, "b"), 0);
    store.releaseHolder(1);
    assert.equal(take(4), "passed");
  });

  test("a zone holds a bounded number of keys; an entry freed makes room", () => {
    const small: ZoneRef = { ...conn, name: "small", size: 32 * 1024 };
    const store = new ZoneStore();
    // 32k: 6 usable pages of 64-byte chunks (rbtree head 32 + node 4 + 4-byte key).
    const room = zoneCapacity(small.size) / 64;
    assert.equal(room, 384);
    for (let i = 0; i < room; i++) {
      assert.equal(store.apply({ op: "conn-take", zone: small, key: key4(i), limit: 1 }, 1), "passed");
    }
    assert.equal(store.apply({ op: "conn-take", zone: small, key: key4(room), limit: 1 }, 1), "full");
    store.apply({ op: "conn-give", zone: small, key: key4(0) }, 1);
    assert.equal(store.apply({ op: "conn-take", zone: small, key: key4(room), limit: 1 }, 1), "passed");
  });
});

describe("shared zones: limit_req", () => {
  test("the leaky bucket in thousandths: excess, burst, delay", () => {
    let now = 1_000_000;
    const store = new ZoneStore(() => now);
    const check = (burst: number, delay = 0) =>
      store.apply({ op: "req-check", limits: [limit(req, "k", burst, delay)] }, 1);
    assert.deepEqual(check(2000), { rc: "ok", excess: 0, index: 0, delay: 0 });
    assert.deepEqual(check(2000), { rc: "ok", excess: 1000, index: 0, delay: 1000 });
    assert.deepEqual(check(2000), { rc: "ok", excess: 2000, index: 0, delay: 2000 });
    assert.deepEqual(check(2000), { rc: "busy", excess: 3000, index: 0, delay: 0 });
    now += 500;
    // A refusal is not counted: 2000 - 500 + 1000.
    assert.deepEqual(check(2000), { rc: "busy", excess: 2500, index: 0, delay: 0 });
    now += 1000;
    assert.deepEqual(check(2000, 1000), { rc: "ok", excess: 1500, index: 0, delay: 500 });
    now += 10_000;
    assert.deepEqual(check(2000), { rc: "ok", excess: 0, index: 0, delay: 0 });
  });

  test("1r/m is 16 thousandths a second; every key empty declines", () => {
    let now = 5_000_000;
    const store = new ZoneStore(() => now);
    const check = () => store.apply({ op: "req-check", limits: [limit(req, "m", 0, 0, 16)] }, 1);
    assert.equal(check().rc, "ok");
    now += 61;
    assert.deepEqual(check(), { rc: "busy", excess: 1000, index: 0, delay: 0 });
    now += 1000;
    // The refusal did not move `last`: 1061 ms leak 16.
    assert.deepEqual(check(), { rc: "busy", excess: 984, index: 0, delay: 0 });
    assert.equal(store.apply({ op: "req-check", limits: [limit(req, null)] }, 1).rc, "declined");
  });

  test("several limits: the refusing one is named, the held entries are rolled back, the longest delay wins", () => {
    const now = 9_000_000;
    const store = new ZoneStore(() => now);
    const a: ZoneRef = { ...req, name: "a" };
    const b: ZoneRef = { ...req, name: "b" };
    const both = (burstA: number, burstB: number) =>
      store.apply({ op: "req-check", limits: [limit(a, "k", burstA), limit(b, "k", burstB)] }, 1);
    // A new entry of a non-last limit is accounted from last = 0: nginx leaves it empty.
    assert.deepEqual(both(5000, 5000), { rc: "ok", excess: 0, index: 1, delay: 0 });
    // Both ask 1000 ms: the last limit's stays the one named (a later one must ask more).
    assert.deepEqual(both(5000, 5000), { rc: "ok", excess: 1000, index: 1, delay: 1000 });
    assert.deepEqual(both(5000, 0), { rc: "busy", excess: 2000, index: 1, delay: 0 });
    // "a" was rolled back, not counted: its excess is still 1000, so the next is 2000.
    assert.deepEqual(both(1000, 5000), { rc: "busy", excess: 2000, index: 0, delay: 0 });
  });

  test("the longest delay of several limits wins, with its zone's rate", () => {
    const store = new ZoneStore(() => 3_000_000);
    const slow: ZoneRef = { ...req, name: "slow" };
    const fast: ZoneRef = { ...req, name: "fast" };
    const both = () =>
      store.apply({ op: "req-check", limits: [limit(slow, "k", 5000, 0, 100), limit(fast, "k", 5000, 0, 1000)] }, 1);
    both();
    assert.deepEqual(both(), { rc: "ok", excess: 1000, index: 0, delay: 10_000 });
  });

  test("a full zone drops its oldest entry by force; an entry that cannot fit is an allocation failure", () => {
    const now = 7_000_000;
    const store = new ZoneStore(() => now);
    const small: ZoneRef = { ...req, name: "small", size: 32 * 1024 };
    const room = zoneCapacity(small.size) / entryCost(REQ_NODE, 4);
    assert.equal(room, 192);
    const check = (key: string) => store.apply({ op: "req-check", limits: [limit(small, key)] }, 1);
    for (let i = 0; i < room; i++) assert.equal(check(key4(i)).rc, "ok");
    assert.equal(check(key4(0)).rc, "busy", "the first key is still counted");
    assert.equal(check(key4(room)).rc, "ok", "a new key takes the oldest's place");
    // key4(1) is now the oldest: gone, so it starts afresh; key4(0) was bumped by its lookup and stayed.
    assert.equal(check(key4(room + 1)).rc, "ok");
    assert.equal(check(key4(0)).rc, "busy");
    assert.equal(check("x".repeat(1000)).rc, "error", "a 2048-byte entry where three 128-byte ones were freed");
  });

  test("a reload: the same zone must keep its key; zones no configuration names are dropped", () => {
    const store = new ZoneStore(() => 1);
    store.apply({ op: "req-check", limits: [limit(req, "k")] }, 1);
    assert.equal(store.conflict([req]), undefined);
    assert.equal(
      store.conflict([{ ...req, key: "$remote_addr" }]),
      `limit_req "one" uses the "$remote_addr" key while previously it used the "$binary_remote_addr" key`,
    );
    assert.equal(store.conflict([{ ...req, key: "$remote_addr", size: 2 * 1024 * 1024 }]), undefined, "another size");
    store.apply({ op: "conn-take", zone: conn, key: "k", limit: 1 }, 1);
    assert.match(store.conflict([{ ...conn, key: "$uri" }]) ?? "", /^limit_conn_zone "perip" uses the "\$uri" key/);
    const unused: ZoneRef = { ...req, name: "unused" };
    store.declare([unused]);
    assert.match(
      store.conflict([{ ...unused, key: "$uri" }]) ?? "",
      /^limit_req "unused" uses the "\$uri" key/,
      "declared, never used",
    );
    store.retain(new Set([zoneIdentity(conn)]));
    assert.equal(store.apply({ op: "req-check", limits: [limit(req, "k")] }, 1).excess, 0, "a new zone");
    assert.equal(store.connHeld(conn, "k"), 1, "kept");
  });
});

/** A 4-byte key, as $binary_remote_addr of an IPv4 address. */
function key4(i: number): string {
  return String.fromCharCode(10, (i >> 16) & 255, (i >> 8) & 255, i & 255);
}
