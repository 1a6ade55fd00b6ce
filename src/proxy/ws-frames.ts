/**
 * WebSocket frame and message boundaries in a tunnel's byte stream, followed
 * from the frame headers alone (RFC 6455 §5.2, §5.4): a cursor reads a
 * header, then skips the payload without looking at it. A large frame costs
 * one subtraction per chunk, a small one a few header reads. A header split
 * across chunks is gathered in a 14-byte buffer, made the first time one is.
 *
 * Messages: a data frame (text 1, binary 2) without FIN starts a message that
 * continuation frames (0) carry on until one has FIN; control frames (8
 * close, 9 ping, 10 pong) may come between them and belong to no message.
 * An observer is told each data frame's header with the message's payload so
 * far — before the payload passes, so a per-message size limit can act in
 * time — and each control frame; counters and limits are built on that.
 *
 * Frames are followed only from a stream's first byte: a boundary cannot be
 * found in the middle of one. The tunnel's directions (ws-flow.ts) read
 * headers with headerSize() and payloadLength() below, in a walker that also
 * forwards, holds and cuts; FrameCursor is the read-only form of the same
 * walk. The frames wsgate writes itself (close, ping) are built here too.
 */

import { randomBytes } from "node:crypto";

/** The longest frame header: 2 + 8 (64-bit length) + 4 (mask). */
const MAX_HEADER = 14;

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

/** What a tunnel's per-message features hear from a cursor; every method may be left out. */
export interface FrameObserver {
  /**
   * A data frame's header was read. `opcode` is the message's (1 text, 2
   * binary, also for its continuation frames), `total` its payload so far with
   * this frame's; `first`: the frame starts the message; `final`: it ends it.
   */
  data?(opcode: number, total: number, first: boolean, final: boolean): void;
  /** A control frame's header was read (opcode 8 and above), between messages or between a message's frames. */
  control?(opcode: number, length: number): void;
  /** A frame that breaks RFC 6455's rules: its reason. The cursor carries on as best it can. */
  violation?(reason: string): void;
}

export class FrameCursor {
  /** Bytes of the current frame (header and payload) still to pass. */
  private skip = 0;
  /** How many bytes of a header split across chunks `head` holds. */
  private have = 0;
  private head: Buffer | undefined;
  /** The opcode of the message in progress (1 or 2); 0 between messages. */
  messageOpcode = 0;
  /** Its payload so far, the frame being passed included. */
  messageBytes = 0;
  /** A close frame (opcode 8) has started in this direction. */
  closeSeen = false;

  constructor(private readonly observer?: FrameObserver) {}

  get atBoundary(): boolean {
    return this.skip === 0 && this.have === 0;
  }

  /**
   * Pass over `chunk`. With `stopAtBoundary`, stop at the first frame boundary
   * (0 when the cursor is at one already) and return its offset, the bytes
   * after it not yet passed; -1 when the chunk holds none. Without, pass the
   * whole chunk and return its length.
   */
  advance(chunk: Buffer, stopAtBoundary: boolean): number {
    const end = chunk.length;
    let at = 0;
    for (;;) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, end - at);
        this.skip -= take;
        at += take;
        if (this.skip > 0) return stopAtBoundary ? -1 : end;
      }
      if (stopAtBoundary && this.have === 0) return at;
      if (at >= end) return stopAtBoundary ? -1 : end;
      const prior = this.have;
      if (prior === 0 && end - at >= 2 && end - at >= headerSize(chunk[at + 1]!)) {
        // The usual case: the whole header is in the chunk, read in place.
        this.skip = this.frame(chunk, at);
        continue;
      }
      // The header may be split: gather it (the chunk is not ours to keep).
      const head = (this.head ??= Buffer.allocUnsafe(MAX_HEADER));
      const copied = chunk.copy(head, prior, at, Math.min(end, at + MAX_HEADER - prior));
      const filled = prior + copied;
      const size = filled < 2 ? 0 : headerSize(head[1]!);
      if (size === 0 || filled < size) {
        this.have = filled;
        return stopAtBoundary ? -1 : end;
      }
      this.have = 0;
      // The bytes of this chunk that were copied are passed as part of the frame.
      this.skip = this.frame(head, 0) - prior;
    }
  }

  /** A whole header at `at` in `buf`: follow the message state; the frame's length, header included. */
  private frame(buf: Buffer, at: number): number {
    const first = buf[at]!;
    const second = buf[at + 1]!;
    const size = headerSize(second);
    const length = payloadLength(buf, at, second);
    const opcode = first & 0x0f;
    const final = (first & 0x80) !== 0;
    if (opcode >= OPCODE_CLOSE) this.controlFrame(opcode, length, final);
    else this.dataFrame(opcode, length, final);
    return size + length;
  }

  private controlFrame(opcode: number, length: number, final: boolean): void {
    if (opcode === OPCODE_CLOSE) this.closeSeen = true;
    if (!final || length > 125) this.observer?.violation?.("a fragmented or long control frame");
    this.observer?.control?.(opcode, length);
  }

  private dataFrame(opcode: number, length: number, final: boolean): void {
    const continuing = opcode === OPCODE_CONTINUATION;
    if (continuing && this.messageOpcode === 0) {
      this.observer?.violation?.("a continuation frame outside a message");
      return;
    }
    if (!continuing && this.messageOpcode !== 0) this.observer?.violation?.("a new message inside a fragmented one");
    if (!continuing) {
      this.messageOpcode = opcode;
      this.messageBytes = 0;
    }
    this.messageBytes += length;
    const messageOpcode = this.messageOpcode;
    if (final) this.messageOpcode = 0;
    this.observer?.data?.(messageOpcode, this.messageBytes, !continuing, final);
  }
}

/** A header's length, from its second byte. */
export function headerSize(second: number): number {
  const lengthCode = second & 0x7f;
  const extended = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
  return 2 + extended + (second & 0x80 ? 4 : 0);
}

/** The payload length of the header at `at` in `buf`, whose second byte is `second`. */
export function payloadLength(buf: Buffer, at: number, second: number): number {
  const lengthCode = second & 0x7f;
  if (lengthCode < 126) return lengthCode;
  if (lengthCode === 126) return buf.readUInt16BE(at + 2);
  return buf.readUInt32BE(at + 2) * 2 ** 32 + buf.readUInt32BE(at + 6);
}

/** 1001 "Going Away": the endpoint is going down (RFC 6455 §7.4.1). */
export const GOING_AWAY = 1001;

/** A close frame: unmasked as a server sends it (to the client), masked as a client sends it (to the upstream). */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, "utf8");
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return controlFrame(OPCODE_CLOSE, payload, masked);
}

/** A control frame (payload of 125 bytes at most), masked or not; `payload` is not changed. */
export function controlFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  if (!masked) return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
  const mask = randomBytes(4);
  const out = Buffer.allocUnsafe(6 + payload.length);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}
