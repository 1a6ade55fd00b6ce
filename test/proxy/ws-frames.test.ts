/**
 * The frame cursor that finds WebSocket frame boundaries from headers alone:
 * random frames (every length form, masked or not, control and data), cut
 * into random chunks, give back exactly the boundaries they were built with;
 * close frames are built as RFC 6455 says and parse back with ws's receiver.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as wsModule from "ws";
import { FrameCursor, GOING_AWAY, closeFrame } from "../../src/proxy/ws-frames.js";

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
