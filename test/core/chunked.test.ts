/**
 * The chunked decoder: the same data however the bytes are split, chunk
 * extensions and trailers, the bytes after the last chunk, and the framing
 * tricks it refuses.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ChunkedDecoder, LAST_CHUNK, encodeChunk, type ChunkResult } from "../../src/core/chunked.js";

interface Decoded {
  readonly result: ChunkResult;
  readonly data: string;
  readonly rest: string | undefined;
}

/** Feed `pieces` in order, stopping at the first answer other than "more". */
function decode(...pieces: string[]): Decoded {
  const decoder = new ChunkedDecoder();
  let data = "";
  let result: ChunkResult = "more";
  for (const piece of pieces) {
    result = decoder.feed(Buffer.from(piece, "latin1"), (chunk) => (data += chunk.toString("latin1")));
    if (result !== "more") break;
  }
  return { result, data, rest: decoder.rest?.toString("latin1") };
}

const BODY = "5\r\nhello\r\n6;name=value\r\n world\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
const DATA = "hello worldabcdefghijklmnopqrstuvwxyz";

describe("ChunkedDecoder", () => {
  test("a whole body in one piece: the data, done, nothing after it", () => {
    assert.deepEqual(decode(BODY), { result: "done", data: DATA, rest: "" });
  });

  test("split at every byte boundary: the same data", () => {
    for (let at = 0; at <= BODY.length; at++) {
      assert.deepEqual(decode(BODY.slice(0, at), BODY.slice(at)), { result: "done", data: DATA, rest: "" }, `at ${at}`);
    }
  });

  test("one byte at a time: the same data", () => {
    assert.deepEqual(decode(...BODY), { result: "done", data: DATA, rest: "" });
  });

  test("every proper prefix is 'more'", () => {
    for (let at = 0; at < BODY.length; at++) assert.equal(decode(BODY.slice(0, at)).result, "more", `at ${at}`);
  });

  test("upper- and lower-case hex sizes", () => {
    const big = "x".repeat(0xab);
    assert.deepEqual(decode(`aB\r\n${big}\r\n0\r\n\r\n`), { result: "done", data: big, rest: "" });
  });

  test("extensions after ';', a space or a tab are skipped, on the last chunk too", () => {
    assert.deepEqual(decode("3;a=1;b\r\nabc\r\n0;last=yes\r\n\r\n"), { result: "done", data: "abc", rest: "" });
    assert.deepEqual(decode("3 \r\nabc\r\n0\t;x\r\n\r\n"), { result: "done", data: "abc", rest: "" });
  });

  test("trailer lines are read and dropped", () => {
    assert.deepEqual(decode("2\r\nhi\r\n0\r\nA: 1\r\nB: 2\r\n\r\n"), { result: "done", data: "hi", rest: "" });
  });

  test("the bytes after the last chunk are the rest (the next message)", () => {
    assert.deepEqual(decode("2\r\nhi\r\n0\r\n\r\nGET /next HTTP/1.1\r\n"), {
      result: "done",
      data: "hi",
      rest: "GET /next HTTP/1.1\r\n",
    });
    assert.deepEqual(decode("0\r\n\r\n", "more bytes"), { result: "done", data: "", rest: "" }, "stops at done");
  });

  test("data is handed out without copying: slices of the buffer fed", () => {
    const input = Buffer.from("5\r\nhello\r\n0\r\n\r\n", "latin1");
    const decoder = new ChunkedDecoder();
    const pieces: Buffer[] = [];
    assert.equal(
      decoder.feed(input, (chunk) => pieces.push(chunk)),
      "done",
    );
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]!.buffer, input.buffer);
  });

  test("invalid sizes: a sign, 0x, a leading space, no digits, 17 hex digits", () => {
    for (const body of [
      "+1\r\na\r\n0\r\n\r\n",
      "-1\r\n",
      "0x10\r\n",
      " 5\r\nhello\r\n",
      "\r\n",
      "g\r\n",
      "10000000000000000\r\n",
    ]) {
      assert.equal(decode(body).result, "invalid", JSON.stringify(body));
    }
    assert.equal(decode("000000000000001\r\na\r\n0\r\n\r\n").result, "done", "15 digits with leading zeros are fine");
  });

  test("anything but CRLF right after the data is invalid", () => {
    for (const body of ["5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\rX", "5\r\nhello world\r\n", "3\r\nabc0\r\n\r\n"]) {
      assert.equal(decode(body).result, "invalid", JSON.stringify(body));
    }
  });

  test("a bare LF ends a framing line as CRLF does (ngx_http_parse_chunked)", () => {
    for (const [body, data] of [
      ["5\nhello\n0\n\n", "hello"],
      ["5\r\nhello\n0\r\n\r\n", "hello"],
      ["3;ext\nabc\r\n0;e\n\n", "abc"],
      ["5 \nhello\n0 \n\n", "hello"],
      ["0\r\nA: 1\nB\r\n\n", ""],
      ["0\n\r\n", ""],
    ] as const) {
      const whole = decode(body + "NEXT");
      assert.deepEqual(whole, { result: "done", data, rest: "NEXT" }, JSON.stringify(body));
      for (let at = 1; at < body.length; at++) {
        const split = decode(body.slice(0, at), body.slice(at) + "NEXT");
        assert.deepEqual(split, whole, `${JSON.stringify(body)} split at ${at}`);
      }
    }
  });

  test("a CR not followed by LF is invalid anywhere in the framing", () => {
    for (const body of [
      "5\rX\nhello\r\n0\r\n\r\n",
      "5\r\r\nhello\r\n0\r\n\r\n",
      "5;a\rb\r\nhello\r\n0\r\n\r\n",
      "5\r\nhello\rX0\r\n\r\n",
      "5\r\nhello\r\r\n0\r\n\r\n",
      "0\r\nA: 1\rB\r\n\r\n",
      "0\r\nA: 1\r\r\n\r\n",
      "0\r\n\r\r\n",
    ]) {
      assert.equal(decode(body).result, "invalid", JSON.stringify(body));
      assert.equal(decode(...body.split("")).result, "invalid", `${JSON.stringify(body)} byte by byte`);
    }
  });

  test("encodeChunk and LAST_CHUNK round-trip through the decoder", () => {
    const data = Buffer.from("x".repeat(300), "latin1");
    const wire = Buffer.concat([...encodeChunk(data), ...encodeChunk(Buffer.from("!")), LAST_CHUNK]);
    assert.equal(wire.toString("latin1").slice(0, 5), "12c\r\n");
    assert.deepEqual(decode(wire.toString("latin1")), { result: "done", data: "x".repeat(300) + "!", rest: "" });
  });
});
