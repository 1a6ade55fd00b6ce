/**
 * The frame cursor that finds WebSocket frame boundaries from headers alone:
 * random frames (every length form, masked or not, control and data), cut
 * into random chunks, give back exactly the boundaries they were built with;
 * close frames are built as RFC 6455 says and parse back with ws's receiver.
 * Messages: fragmented ones with control frames between their frames, every
 * header form (7-, 16-, 64-bit lengths, masked or not) split at every point.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as wsModule from "ws";
import { FrameCursor, GOING_AWAY, closeFrame, type FrameObserver } from "../../src/proxy/ws-frames.js";

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function frame(opcode: number, length: number, masked: boolean): Buffer {
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([head, Buffer.alloc(length, 0x5a)]);
}

describe("FrameCursor", () => {
  test("finds every boundary of random frames cut into random chunks", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const frames: Buffer[] = [];
      for (let i = 0; i < 20; i++) {
        const kind = next();
        const length =
          kind < 0.5
            ? Math.floor(next() * 126)
            : kind < 0.9
              ? 126 + Math.floor(next() * 3000)
              : 65536 + Math.floor(next() * 70000);
        frames.push(frame(next() < 0.2 ? 0x9 : 0x2, length, next() < 0.5));
      }
      const stream = Buffer.concat(frames);
      const expected = new Set<number>();
      let offset = 0;
      for (const f of frames) expected.add((offset += f.length));

      const cursor = new FrameCursor();
      const found = new Set<number>();
      let position = 0;
      while (position < stream.length) {
        const size = 1 + Math.floor(next() * (next() < 0.5 ? 20 : 5000));
        let chunk = stream.subarray(position, position + size);
        let base = position;
        position += chunk.length;
        // Every boundary in the chunk, one at a time, as an injection finds them.
        for (;;) {
          const at = cursor.advance(chunk, true);
          if (at < 0) break;
          found.add(base + at);
          chunk = chunk.subarray(at);
          base += at;
          if (chunk.length === 0) break;
          // Step one byte into the next frame, to look for the boundary after it.
          cursor.advance(chunk.subarray(0, 1), false);
          chunk = chunk.subarray(1);
          base += 1;
        }
      }
      for (const at of found) assert.ok(at === 0 || expected.has(at), `seed ${seed}: ${at} is not a frame boundary`);
      for (const at of expected)
        if (at < stream.length) assert.ok(found.has(at), `seed ${seed}: boundary ${at} missed`);
      assert.ok(cursor.atBoundary, `seed ${seed}: the stream ends on a boundary`);
    }
  });

  test("notices a close frame, even with its header split", () => {
    const cursor = new FrameCursor();
    const close = closeFrame(GOING_AWAY, "bye", true);
    cursor.advance(frame(0x1, 10, true), false);
    assert.equal(cursor.closeSeen, false);
    cursor.advance(close.subarray(0, 1), false);
    assert.equal(cursor.atBoundary, false);
    cursor.advance(close.subarray(1), false);
    assert.equal(cursor.closeSeen, true);
    assert.equal(cursor.atBoundary, true);
  });

  test("a fragmented message with pings and pongs between its frames: one message, its size, the control frames", () => {
    const stream = Buffer.concat([
      rawFrame({ fin: false, opcode: 0x1, length: 3, masked: false }),
      rawFrame({ fin: true, opcode: 0x9, length: 2, masked: true }),
      rawFrame({ fin: false, opcode: 0x0, length: 200, masked: false }),
      rawFrame({ fin: true, opcode: 0xa, length: 0, masked: false }),
      rawFrame({ fin: true, opcode: 0x0, length: 70_000, masked: true }),
      rawFrame({ fin: true, opcode: 0x2, length: 5, masked: false }),
    ]);
    const { events, cursor } = feed([stream]);
    assert.deepEqual(events, [
      "data 1 3 first",
      "control 9 2",
      "data 1 203",
      "control 10 0",
      "data 1 70203 final",
      "data 2 5 first final",
    ]);
    assert.ok(cursor.atBoundary);
    assert.equal(cursor.messageOpcode, 0, "between messages");
  });

  test("every header form split at every point, once and twice, gives the same events", () => {
    // Non-minimal lengths (a 16- or 64-bit form for a few bytes) keep the stream short; the cursor reads them as sent.
    const stream = Buffer.concat([
      rawFrame({ fin: false, opcode: 0x1, length: 4, masked: true }),
      rawFrame({ fin: true, opcode: 0x9, length: 1, masked: false, form: 16 }),
      rawFrame({ fin: false, opcode: 0x0, length: 2, masked: false, form: 64 }),
      rawFrame({ fin: true, opcode: 0xa, length: 0, masked: true, form: 64 }),
      rawFrame({ fin: true, opcode: 0x0, length: 3, masked: true, form: 16 }),
      rawFrame({ fin: true, opcode: 0x2, length: 0, masked: false }),
      rawFrame({ fin: true, opcode: 0x8, length: 2, masked: true, form: 64 }),
    ]);
    const whole = feed([stream]).events;
    assert.deepEqual(whole, [
      "data 1 4 first",
      "control 9 1",
      "data 1 6",
      "control 10 0",
      "data 1 9 final",
      "data 2 0 first final",
      "control 8 2",
    ]);
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        const { events, cursor } = feed(chunks);
        assert.deepEqual(events, whole, `split at ${i} and ${j}`);
        assert.ok(cursor.atBoundary && cursor.closeSeen, `split at ${i} and ${j}`);
      }
    }
    const bytes = [...stream].map((byte) => Buffer.from([byte]));
    assert.deepEqual(feed(bytes).events, whole, "one byte at a time");
  });

  test("a large payload costs no per-byte work: a 64-bit length is skipped whatever the chunking", () => {
    const header = rawFrame({ fin: true, opcode: 0x2, length: 0, masked: false, form: 64 });
    header.writeBigUInt64BE(5n * 2n ** 32n + 7n, 2);
    const cursor = new FrameCursor();
    cursor.advance(header.subarray(0, 5), false);
    cursor.advance(header.subarray(5), false);
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 64; i++) cursor.advance(chunk, false);
    assert.equal(cursor.atBoundary, false);
    assert.equal(cursor.messageBytes, 5 * 2 ** 32 + 7);
  });

  test("frames that break the rules are reported, and the messages after them still counted", () => {
    const stream = Buffer.concat([
      rawFrame({ fin: true, opcode: 0x0, length: 1, masked: false }),
      rawFrame({ fin: false, opcode: 0x1, length: 1, masked: false }),
      rawFrame({ fin: false, opcode: 0x2, length: 1, masked: false }),
      rawFrame({ fin: false, opcode: 0x9, length: 1, masked: false }),
      rawFrame({ fin: true, opcode: 0x0, length: 1, masked: false }),
    ]);
    assert.deepEqual(feed([stream]).events, [
      "violation a continuation frame outside a message",
      "data 1 1 first",
      "violation a new message inside a fragmented one",
      "data 2 1 first",
      "violation a fragmented or long control frame",
      "control 9 1",
      "data 2 2 final",
    ]);
  });

  for (const masked of [false, true]) {
    test(`closeFrame (${masked ? "masked, to the upstream" : "unmasked, to the client"}) parses as 1001 Going Away`, async () => {
      const { Receiver } = wsModule as unknown as {
        Receiver: new (options: { isServer: boolean; maxPayload: number }) => import("node:stream").Writable;
      };
      const receiver = new Receiver({ isServer: masked, maxPayload: 0 });
      const got = new Promise<[number, string]>((resolve) =>
        receiver.on("conclude", (code: number, reason: Buffer) => resolve([code, String(reason)])),
      );
      receiver.write(closeFrame(GOING_AWAY, "shutting down", masked));
      assert.deepEqual(await got, [1001, "shutting down"]);
      assert.equal((closeFrame(GOING_AWAY, "", masked)[1]! & 0x80) !== 0, masked, "the mask bit");
    });
  }
});

/** A frame header with its payload: `form` forces a 16- or 64-bit length field whatever the length. */
function rawFrame(spec: { fin: boolean; opcode: number; length: number; masked: boolean; form?: 16 | 64 }): Buffer {
  const form = spec.form ?? (spec.length < 126 ? 7 : spec.length < 65536 ? 16 : 64);
  const extended = form === 7 ? 0 : form === 16 ? 2 : 8;
  const head = Buffer.alloc(2 + extended + (spec.masked ? 4 : 0), 0x3c);
  head[0] = (spec.fin ? 0x80 : 0) | spec.opcode;
  head[1] = (spec.masked ? 0x80 : 0) | (form === 7 ? spec.length : form === 16 ? 126 : 127);
  if (form === 16) head.writeUInt16BE(spec.length, 2);
  if (form === 64) head.writeBigUInt64BE(BigInt(spec.length), 2);
  return Buffer.concat([head, Buffer.alloc(spec.length, 0x5a)]);
}

/** Feed `chunks` to a new cursor; what its observer heard, as text. */
function feed(chunks: readonly Buffer[]): { events: string[]; cursor: FrameCursor } {
  const events: string[] = [];
  const observer: FrameObserver = {
    data: (opcode, total, first, final) =>
      events.push(
        ["data", opcode, total, first ? "first" : "", final ? "final" : ""].filter((x) => x !== "").join(" "),
      ),
    control: (opcode, length) => events.push(`control ${opcode} ${length}`),
    violation: (reason) => events.push(`violation ${reason}`),
  };
  const cursor = new FrameCursor(observer);
  for (const chunk of chunks) cursor.advance(chunk, false);
  return { events, cursor };
}
