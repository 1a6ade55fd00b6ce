/**
 * The request head read as it arrives (HeadReader): fed in any split, byte by
 * byte included, it gives what the whole head gives at once (head, status,
 * reason), and it finds the end of each line without rescanning what it read.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { HeadReader, parseRequestHead, type HeadLimits, type HeadParse } from "../../src/http/request-head.js";

const LIMITS: HeadLimits = {
  clientHeaderBufferSize: 64,
  largeClientHeaderBuffers: { count: 2, size: 128 },
  maxHeaders: 5,
  ignoreInvalidHeaders: true,
  underscoresInHeaders: false,
};

/** Feed `text` in pieces of `size` bytes; the first result that is not "incomplete", and the bytes after it. */
function fed(text: string, size: number): { result: HeadParse; rest: string } {
  const reader = new HeadReader(LIMITS);
  const bytes = Buffer.from(text, "latin1");
  let result: HeadParse = { kind: "incomplete" };
  let at = 0;
  while (at < bytes.length && result.kind === "incomplete") {
    result = reader.feed(bytes.subarray(at, at + size));
    at += size;
  }
  if (result.kind !== "head") return { result, rest: "" };
  // The bytes of the last piece past the head, then every piece not fed.
  const rest = (reader.takeRest()?.toString("latin1") ?? "") + bytes.toString("latin1", Math.min(at, bytes.length));
  return { result, rest };
}

/**
 * An invalid method is refused at its first byte, as by nginx, which then logs as $request what it
 * has of the line: that part depends on how the bytes came.
 */
function comparable(result: HeadParse): HeadParse {
  if (result.kind !== "error" || result.reason !== "client sent invalid method") return result;
  return { kind: "error", status: result.status, reason: result.reason };
}

const CASES: readonly string[] = [
  "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
  "\r\n\r\nGET /x?y HTTP/1.0\r\nA: 1\r\nB:  2 \r\n\r\nBODY",
  "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n",
  "GET /" + "a".repeat(300) + " HTTP/1.1\r\nHost: a\r\n\r\n",
  "GET / HTTP/1.1\r\nX-Long: " + "b".repeat(200) + "\r\n\r\n",
  "GET / HTTP/1.1\r\n" + "X: 1\r\n".repeat(8) + "\r\n",
  "GET / HTTP/1.1\nHost: a\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
  "GET /\rx HTTP/1.1\r\n\r\n",
  "get / HTTP/1.1\r\n\r\n",
  "GET / HTTP/2.0\r\n\r\n",
  "GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\n",
  "GET / HTTP/1.1\nHost: a\nX:  b \n\nBODY",
  "\r\r\n\nGET / HTTP/1.1\r\nHost: a\n\r\nrest",
  "GET / HTTP/1.1\r\nHost: a\r\r\r\nB: 2\r\n\nrest",
  "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
  "GET / HTTP/1.1\nHost: a\n\r\r\n",
  "GET / HTTP/1.1\nHost: a\r\rb\n\n",
  "GET / HTTP/1.1\nX: a\0b\n\n",
  "GET / HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\nHost: a\n\n",
];

describe("a head fed in pieces reads as the whole head", () => {
  for (const text of CASES) {
    test(JSON.stringify(text.slice(0, 50)), () => {
      const whole = fed(text, text.length);
      assert.deepEqual(whole.result, parseRequestHead(Buffer.from(text, "latin1"), LIMITS));
      for (const size of [1, 2, 3, 7, 16]) {
        const split = fed(text, size);
        assert.deepEqual(comparable(split.result), comparable(whole.result), `pieces of ${size}`);
        assert.equal(split.rest, whole.rest, `pieces of ${size}: the bytes after the head`);
      }
    });
  }
});

describe("reading state", () => {
  test("received and partial() report the head so far; reset() starts over", () => {
    const reader = new HeadReader(LIMITS);
    assert.equal(reader.feed(Buffer.from("GET /a HT")).kind, "incomplete");
    assert.equal(reader.feed(Buffer.from("TP/1.1\r\nHo")).kind, "incomplete");
    assert.equal(reader.received, 19);
    assert.equal(reader.partial(), "GET /a HTTP/1.1\r\nHo");
    reader.reset();
    assert.equal(reader.received, 0);
    const result = reader.feed(Buffer.from("GET /b HTTP/1.1\r\n\r\n"));
    assert.equal(result.kind === "head" && result.head.target, "/b");
  });

  test("a head in one chunk is parsed in place: what follows it is a view of that chunk", () => {
    const chunk = Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\nnext");
    const reader = new HeadReader(LIMITS);
    assert.equal(reader.feed(chunk).kind, "head");
    const rest = reader.takeRest()!;
    assert.equal(rest.toString(), "next");
    assert.equal(rest.buffer, chunk.buffer);
  });

  test("an invalid method is refused at its first byte, with what came of the line (nginx's $request)", () => {
    const reader = new HeadReader(LIMITS);
    assert.equal(reader.feed(Buffer.from("GE")).kind, "incomplete");
    assert.deepEqual(reader.feed(Buffer.from("t")), {
      kind: "error",
      status: 400,
      reason: "client sent invalid method",
      requestLine: "GEt",
    });
    const spaced = new HeadReader(LIMITS);
    assert.equal(spaced.feed(Buffer.from("GET /x")).kind, "incomplete", "a valid method, the target still coming");
    assert.equal((new HeadReader(LIMITS).feed(Buffer.from(" /")) as { status?: number }).status, 400);
  });

  test("a lone CR is refused as soon as the byte after it arrives, before any line end", () => {
    const reader = new HeadReader(LIMITS);
    assert.equal(reader.feed(Buffer.from("GET / HTTP/1.1\r\nX: a\r")).kind, "incomplete");
    const result = reader.feed(Buffer.from("b"));
    assert.deepEqual(result, {
      kind: "error",
      status: 400,
      reason: "client sent invalid header line",
      requestLine: "GET / HTTP/1.1",
    });
  });
});
