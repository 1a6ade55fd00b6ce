/**
 * The balancing methods on their own: nginx's sequences and rules, with
 * peers whose state the test sets (connections, failures, down).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { UpstreamConf, UpstreamServerConf } from "../../src/config/model.js";
import { defaultUpstreamServer } from "../../src/config/modules/upstream.js";
import { crc32 } from "../../src/upstream/crc32.js";
import { UpstreamGroup } from "../../src/upstream/group.js";
import { buildRing, ringServer } from "../../src/upstream/hash.js";
import { addressBytes } from "../../src/upstream/ip-hash.js";
import { makePeers } from "../../src/upstream/peer.js";
import { VariableRegistry } from "../../src/vars/registry.js";
import { ComplexValue } from "../../src/vars/complex-value.js";
import type { VariableSource } from "../../src/vars/source.js";

const PLACE = { file: "test.conf", line: 1 };

function server(name: string, options: Partial<UpstreamServerConf> = {}): UpstreamServerConf {
  const port = Number(name.split(":")[1] ?? 80);
  return {
    ...defaultUpstreamServer(name, PLACE),
    addresses: [{ kind: "inet", host: "127.0.0.1", port, text: `127.0.0.1:${port}` }],
    ...options,
  };
}

function group(servers: UpstreamServerConf[], balancing?: UpstreamConf["balancing"]): UpstreamGroup {
  const conf: UpstreamConf = { name: "g", servers, implicit: false, place: PLACE };
  if (balancing) conf.balancing = balancing;
  return new UpstreamGroup(conf);
}

const source = (remoteAddress = "127.0.0.1"): VariableSource => ({ remoteAddress }) as unknown as VariableSource;

/** Pick once per request, releasing each peer at once (a request that completed). */
function sequence(g: UpstreamGroup, count: number, r: VariableSource = source()): string[] {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const peer = g.select(r).pick(Date.now());
    names.push(peer ? peer.name : "-");
    if (peer) g.free(peer, "ok", Date.now());
  }
  return names;
}

describe("round-robin", () => {
  test("weights 5, 1, 1 give nginx's smooth sequence a a b a c a a", () => {
    const g = group([server("a:1", { weight: 5 }), server("b:2"), server("c:3")]);
    const cycle = ["a:1", "a:1", "b:2", "a:1", "c:3", "a:1", "a:1"];
    assert.deepEqual(sequence(g, 14), [...cycle, ...cycle]);
  });

  test("down peers are skipped; backups serve when no primary is usable", () => {
    const g = group([server("a:1", { down: true }), server("b:2"), server("k:9", { backup: true })]);
    assert.deepEqual(sequence(g, 3), ["b:2", "b:2", "b:2"]);
    const now = Date.now();
    const b = g.peers[1]!;
    b.active++;
    assert.equal(g.free(b, "failed", now), true, "max_fails=1: one failure disables the peer");
    assert.deepEqual(sequence(g, 2), ["k:9", "k:9"]);
  });

  test("max_conns: a full peer is skipped, and a single full peer means no live upstream", () => {
    const g = group([server("a:1", { maxConns: 1 }), server("b:2")]);
    const first = g.select(source()).pick(Date.now())!;
    assert.equal(first.name, "a:1");
    assert.deepEqual(sequence(g, 2), ["b:2", "b:2"]);
    const single = group([server("a:1", { maxConns: 1 })]);
    assert.ok(single.select(source()).pick(Date.now()));
    assert.equal(single.select(source()).pick(Date.now()), undefined);
  });

  test("one try per peer and request: the selection never gives the same peer twice", () => {
    const g = group([server("a:1"), server("b:2"), server("c:3")]);
    const selection = g.select(source());
    const names = [0, 1, 2].map(() => selection.pick(Date.now())!.name).sort();
    assert.deepEqual(names, ["a:1", "b:2", "c:3"]);
    assert.equal(selection.pick(Date.now()), undefined);
  });

  test("a single peer never counts failures (nginx ignores max_fails there)", () => {
    const g = group([server("a:1")]);
    const peer = g.select(source()).pick(Date.now())!;
    assert.equal(g.free(peer, "failed", Date.now()), false);
    assert.equal(peer.fails, 0);
    assert.ok(g.select(source()).pick(Date.now()));
  });

  test("failures lower the effective weight by weight/max_fails; a success after fail_timeout clears them", () => {
    const g = group([server("a:1", { weight: 4, maxFails: 2, failTimeoutMs: 50 }), server("b:2")]);
    const a = g.peers[0]!;
    a.active++;
    assert.equal(g.free(a, "failed", 1000), false);
    assert.equal(a.effectiveWeight, 2);
    assert.equal(a.fails, 1);
    a.active++;
    assert.equal(g.free(a, "failed", 1001), true);
    assert.equal(a.effectiveWeight, 0);
    // Chosen again once fail_timeout has passed, then a success: the count starts over.
    const picked = g.select(source()).pick(2000);
    assert.ok(picked);
    if (picked === a) {
      g.free(a, "ok", 2001);
      assert.equal(a.fails, 0);
    }
  });
});

describe("least_conn", () => {
  test("the peer with the fewest connections; ties by round-robin; weights scale the count", () => {
    const g = group([server("a:1"), server("b:2")], { kind: "least-conn" });
    const first = g.select(source()).pick(Date.now())!;
    const second = g.select(source()).pick(Date.now())!;
    assert.notEqual(first, second, "a held connection sends the next one elsewhere");
    g.free(first, "ok", Date.now());
    assert.equal(g.select(source()).pick(Date.now()), first);

    const weighted = group([server("a:1", { weight: 2 }), server("b:2")], { kind: "least-conn" });
    const [a, b] = weighted.peers as [typeof first, typeof first];
    a.active = 1;
    b.active = 1;
    // 1/2 < 1/1: a.
    assert.equal(weighted.select(source()).pick(Date.now()), a);
    a.active = 3;
    assert.equal(weighted.select(source()).pick(Date.now()), b);
  });
});

describe("ip_hash", () => {
  test("the bytes nginx hashes", () => {
    assert.deepEqual(addressBytes("10.1.2.3"), [10, 1, 2]);
    assert.deepEqual(addressBytes("::1"), [...new Array<number>(15).fill(0), 1]);
    assert.deepEqual(
      addressBytes("2001:db8::ff00:42:8329"),
      [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29],
    );
    assert.deepEqual(addressBytes("::ffff:1.2.3.4"), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    assert.deepEqual(addressBytes(""), [0, 0, 0]);
  });

  test("one /24 goes to one peer; a failed peer sends its clients to another and back", () => {
    const g = group([server("a:1"), server("b:2"), server("c:3")], { kind: "ip-hash" });
    const picks = new Set(sequence(g, 5, source("10.0.0.1")).concat(sequence(g, 5, source("10.0.0.200"))));
    assert.equal(picks.size, 1);
    const spread = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].flatMap((n) => sequence(g, 1, source(`10.0.${n}.1`))));
    assert.ok(spread.size > 1, "different /24 networks spread over the peers");
    const home = g.peers.find((peer) => peer.name === [...picks][0])!;
    home.checkDown = true;
    const moved = sequence(g, 3, source("10.0.0.1"));
    assert.ok(moved.every((name) => name !== home.name && name === moved[0]));
    home.checkDown = false;
    assert.deepEqual(sequence(g, 1, source("10.0.0.1")), [home.name]);
  });
});

describe("hash", () => {
  const registry = new VariableRegistry();
  const key = ComplexValue.compile("fixed", registry);

  test("crc32 is IEEE CRC-32", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
  });

  test("the same key always maps to the same peer", () => {
    const g = group([server("a:1"), server("b:2"), server("c:3")], { kind: "hash", key, consistent: false });
    assert.equal(new Set(sequence(g, 10)).size, 1);
  });

  test("an empty key falls back to round-robin", () => {
    const empty = ComplexValue.compile("", registry);
    const g = group([server("a:1"), server("b:2")], { kind: "hash", key: empty, consistent: false });
    assert.deepEqual(sequence(g, 4), ["a:1", "b:2", "a:1", "b:2"]);
  });

  test("the ring has 160 points per unit of weight, and removing a server moves only its keys", () => {
    const three = buildRing(
      makePeers(server("10.0.0.1:80", { weight: 2 })).concat(
        makePeers(server("10.0.0.2:80")),
        makePeers(server("10.0.0.3:80")),
      ),
    );
    assert.equal(three.length, 4 * 160);
    for (let i = 1; i < three.length; i++) assert.ok(three[i - 1]!.hash < three[i]!.hash);
    const two = buildRing(makePeers(server("10.0.0.1:80", { weight: 2 })).concat(makePeers(server("10.0.0.2:80"))));
    let moved = 0;
    for (let i = 0; i < 500; i++) {
      const before = ringServer(three, `key${i}`);
      const after = ringServer(two, `key${i}`);
      if (before !== "10.0.0.3:80") assert.equal(after, before, `key${i} moved though its server stayed`);
      else moved++;
    }
    assert.ok(moved > 0);
  });
});
