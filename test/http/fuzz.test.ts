/**
 * Random and mutated input must never throw out of the parsers: every result
 * is "incomplete", a head, or an error with a status. Seeded, so a failure
 * can be replayed.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { parseRequestHead } from "../../src/http/request-head.js";
import { requestFacts } from "../../src/http/request-headers.js";
import { parseTarget } from "../../src/http/uri.js";
import { ChunkedDecoder } from "../../src/core/chunked.js";
import { parseResponseHead } from "../../src/proxy/response-head.js";

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID =
  "POST /a/b?x=1 HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n" +
  "5\r\nhello\r\n0\r\n\r\n";
const INTERESTING = [0, 9, 10, 13, 32, 34, 37, 43, 45, 46, 47, 58, 59, 95, 127, 128, 255];
const LIMITS = {
  clientHeaderBufferSize: 1024,
  largeClientHeaderBuffers: { count: 4, size: 8192 },
  maxHeaders: 1000,
  ignoreInvalidHeaders: true,
  underscoresInHeaders: false,
};

function mutate(next: () => number, base: Buffer): Buffer {
  const bytes = Buffer.from(base);
  const edits = 1 + Math.floor(next() * 6);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(next() * bytes.length);
    const pick = next();
    bytes[at] = pick < 0.5 ? INTERESTING[Math.floor(next() * INTERESTING.length)]! : Math.floor(next() * 256);
  }
  const cut = next() < 0.2 ? Math.floor(next() * bytes.length) : bytes.length;
  return bytes.subarray(0, cut);
}

describe("parsers under random input", () => {
  test("request heads, header checks and targets: 20,000 mutations, no exception", () => {
    const next = random(20261125);
    const base = Buffer.from(VALID, "latin1");
    let heads = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = mutate(next, base);
      const result = parseRequestHead(input, LIMITS);
      if (result.kind === "error") assert.ok(result.status >= 400 && result.status < 600, `status ${result.status}`);
      if (result.kind !== "head") continue;
      heads++;
      const facts = requestFacts(result.head);
      if ("status" in facts) assert.ok(facts.status === 400 || facts.status === 501);
      parseTarget(result.head.target, true);
    }
    assert.ok(heads > 1000, `only ${heads} mutations still parsed as heads: the generator is too harsh to test much`);
  });

  test("chunked bodies: 20,000 mutations, fed in random pieces, no exception and no data after 'invalid'", () => {
    const next = random(7);
    const base = Buffer.from(
      "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n",
      "latin1",
    );
    for (let i = 0; i < 20_000; i++) {
      const input = mutate(next, base);
      const decoder = new ChunkedDecoder();
      let state: string = "more";
      for (let at = 0; at < input.length && state === "more";) {
        const size = 1 + Math.floor(next() * 8);
        state = decoder.feed(input.subarray(at, at + size), () => {
          assert.notEqual(state, "invalid");
        });
        at += size;
      }
      assert.ok(["more", "done", "invalid"].includes(state));
    }
  });

  test("response heads: 20,000 mutations, no exception", () => {
    const next = random(99);
    const base = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", "latin1");
    for (let i = 0; i < 20_000; i++) {
      const result = parseResponseHead(mutate(next, base), 4096);
      assert.ok(["incomplete", "head", "error"].includes(result.kind));
    }
  });
});
