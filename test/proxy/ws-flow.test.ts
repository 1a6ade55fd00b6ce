/**
 * One direction of a frame-following tunnel, on stand-in sockets: random
 * frames cut into random chunks pass byte for byte and are counted; wsgate's
 * own pongs are taken out wherever the chunks split them and nothing else
 * is; a frame over the size limit is cut at its header even when the header
 * straddles chunks; a ping or a close waits for the frame in flight.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { FrameFlow, PING_TOKEN, type FlowOwner } from "../../src/proxy/ws-flow.js";
import { frame } from "../support/ws-frame.js";
import { parseFrame, type Frame } from "./ws-peers.js";

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

class Sink {
  written: Buffer[] = [];
  destroyed = false;
  write(buf: Buffer): boolean {
    this.written.push(Buffer.from(buf));
    return true;
  }
  resume(): void {}
  get bytes(): Buffer {
    return Buffer.concat(this.written);
  }
}

class Owner implements FlowOwner {
  pongs = 0;
  pings = 0;
  closes: number[] = [];
  offences: Array<[number, string]> = [];
  cut = 0;
  constructor(
    readonly checks = true,
    readonly maxMessage = 0,
    readonly pinging = false,
  ) {}
  messageStarts(): boolean {
    return true;
  }
  offends(_flow: FrameFlow, code: number, what: string): void {
    this.offences.push([code, what]);
  }
  cutOff(flow: FrameFlow): void {
    this.cut++;
    flow.closeWith(1001);
  }
  closeFrameSeen(_flow: FrameFlow, code: number): void {
    this.closes.push(code);
  }
  pongHeard(): void {
    this.pongs++;
  }
  pingSent(): void {
    this.pings++;
  }
  answered(): void {}
}

function flowOf(owner: Owner, fromClient = true): { flow: FrameFlow; target: Sink } {
  const target = new Sink();
  const source = new Sink();
  const flow = new FrameFlow(owner, source as unknown as Socket, target as unknown as Socket, fromClient);
  return { flow, target };
}

const masked = (opcode: number, payload: Buffer, fin = true): Buffer => frame(opcode, payload, randomBytes(4), fin);

function parseAll(buf: Buffer): Frame[] {
  const frames: Frame[] = [];
  let rest = buf;
  for (;;) {
    const parsed = parseFrame(rest);
    if (!parsed) break;
    frames.push(parsed.frame);
    rest = rest.subarray(parsed.size);
  }
  assert.equal(rest.length, 0, "nothing left over");
  return frames;
}

/** Feed `stream` in random chunks (1 to 40 bytes, or up to 3000). */
function feed(flow: FrameFlow, stream: Buffer, next: () => number): void {
  let at = 0;
  while (at < stream.length) {
    const size = 1 + Math.floor(next() * (next() < 0.6 ? 40 : 3000));
    flow.pass(stream.subarray(at, at + size));
    at += size;
  }
}

describe("FrameFlow", () => {
  test("random frames in random chunks pass byte for byte; messages and payload bytes are counted", () => {
    for (let seed = 1; seed <= 150; seed++) {
      const next = random(seed);
      const frames: Buffer[] = [];
      let messages = 0;
      let bytes = 0;
      for (let i = 0; i < 25; i++) {
        const kind = next();
        if (kind < 0.15) {
          frames.push(masked(next() < 0.5 ? 9 : 10, randomBytes(Math.floor(next() * 126))));
          continue;
        }
        const length =
          kind < 0.6 ? Math.floor(next() * 126) : 126 + Math.floor(next() * (next() < 0.9 ? 3000 : 70_000));
        const fragments = next() < 0.3 ? 3 : 1;
        for (let f = 0; f < fragments; f++) {
          frames.push(masked(f === 0 ? 2 : 0, Buffer.alloc(length, f), f === fragments - 1));
          bytes += length;
          if (f === 0 && next() < 0.5) frames.push(masked(9, Buffer.from("between")));
        }
        messages++;
      }
      frames.push(masked(8, Buffer.from([0x03, 0xe8])));
      const stream = Buffer.concat(frames);
      const owner = new Owner(true, 0, true);
      const { flow, target } = flowOf(owner);
      feed(flow, stream, next);
      assert.deepEqual(target.bytes, stream, `seed ${seed}`);
      assert.equal(flow.messages, messages);
      assert.equal(flow.bytes, bytes);
      assert.deepEqual(owner.offences, []);
      assert.deepEqual(owner.closes, [1000]);
    }
  });

  test("wsgate's pongs are taken out wherever the chunks split them; a pong with another payload passes", () => {
    for (let seed = 1; seed <= 150; seed++) {
      const next = random(seed);
      const kept: Buffer[] = [];
      const all: Buffer[] = [];
      let ours = 0;
      for (let i = 0; i < 20; i++) {
        const kind = next();
        if (kind < 0.3) {
          all.push(masked(10, PING_TOKEN));
          ours++;
          continue;
        }
        const f =
          kind < 0.4
            ? masked(10, Buffer.alloc(PING_TOKEN.length, 0x41))
            : masked(1, Buffer.alloc(Math.floor(next() * 400), 0x61));
        all.push(f);
        kept.push(f);
      }
      const owner = new Owner(true, 0, true);
      const { flow, target } = flowOf(owner);
      feed(flow, Buffer.concat(all), next);
      assert.deepEqual(target.bytes, Buffer.concat(kept), `seed ${seed}`);
      assert.equal(owner.pongs, ours);
    }
  });

  test("a message over the limit is cut at its header, even one split over chunks; what came before passes", () => {
    for (let split = 1; split < 8; split++) {
      const owner = new Owner(true, 100);
      const { flow, target } = flowOf(owner);
      const before = Buffer.concat([masked(1, Buffer.alloc(60), false), masked(9, Buffer.from("p"))]);
      const crossing = masked(0, Buffer.alloc(41));
      const stream = Buffer.concat([before, crossing, masked(1, Buffer.from("after"))]);
      const at = before.length + split;
      flow.pass(stream.subarray(0, at));
      flow.pass(stream.subarray(at));
      const out = target.bytes;
      // The bytes before, then the 1001 the stand-in owner sends in their place; nothing of the crossing frame.
      assert.deepEqual(out.subarray(0, before.length), before, `split ${split}`);
      const rest = parseAll(out.subarray(before.length));
      assert.deepEqual(
        rest.map((f) => f.opcode),
        [8],
      );
      assert.deepEqual(owner.offences, [[1009, "too large WebSocket message: 101 bytes"]]);
    }
  });

  test("a ping or a close asked for mid-frame goes right after that frame; at a boundary, at once", () => {
    const owner = new Owner(false, 0, true);
    const { flow, target } = flowOf(owner, false);
    const big = frame(2, Buffer.alloc(1000, 7));
    flow.pass(big.subarray(0, 500));
    flow.ping();
    assert.equal(owner.pings, 0, "not inside the frame");
    flow.pass(Buffer.concat([big.subarray(500), frame(1, Buffer.from("next"))]));
    assert.equal(owner.pings, 1);
    flow.ping();
    assert.equal(owner.pings, 2, "at a boundary: at once");
    const half = frame(1, Buffer.from("in flight"));
    flow.pass(half.subarray(0, 4));
    flow.closeWith(1008);
    flow.pass(Buffer.concat([half.subarray(4), frame(1, Buffer.from("dropped"))]));
    const frames = parseAll(target.bytes);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.masked]),
      [
        [2, false],
        [9, false],
        [1, false],
        [9, false],
        [1, false],
        [8, false],
      ],
    );
    assert.deepEqual(frames[1]!.payload, PING_TOKEN);
    assert.equal(frames[4]!.payload.toString(), "in flight");
    assert.equal(frames[5]!.payload.readUInt16BE(0), 1008);
  });

  test("a split header that breaks a rule sends nothing of it", () => {
    const owner = new Owner(true);
    const { flow, target } = flowOf(owner);
    const good = masked(1, Buffer.from("ok"));
    const bad = frame(1, Buffer.from("unmasked"));
    flow.pass(Buffer.concat([good, bad.subarray(0, 1)]));
    flow.pass(bad.subarray(1));
    assert.deepEqual(owner.offences, [[1002, "an unmasked frame"]]);
    const frames = parseAll(target.bytes);
    assert.deepEqual(
      frames.map((f) => f.opcode),
      [1, 8],
    );
  });
});
