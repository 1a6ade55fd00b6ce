/**
 * WebSocket frame boundaries in a tunnel's byte stream, followed from the
 * frame headers alone (RFC 6455 §5.2): a cursor reads a header, then skips the
 * payload without looking at it. A large frame costs one subtraction per
 * chunk, a small one a few header reads. It runs only in tunnels that may be
 * ended with close frames (`wsgate_close_frames`, `wsgate_shutdown_drain`),
 * from their first byte: a boundary cannot be found in the middle of a stream.
 */

import { randomBytes } from "node:crypto";

/** The longest frame header: 2 + 8 (64-bit length) + 4 (mask). */
const MAX_HEADER = 14;

export class FrameCursor {
  /** Bytes of the current frame (header and payload) still to pass. */
  private skip = 0;
  /** The start of a header split across chunks. */
  private partial: Buffer | undefined;
  /** A close frame (opcode 8) has started in this direction. */
  closeSeen = false;

  get atBoundary(): boolean {
    return this.skip === 0 && this.partial === undefined;
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
      if (stopAtBoundary && this.partial === undefined) return at;
      if (at >= end) return stopAtBoundary ? -1 : end;
      const prior = this.partial?.length ?? 0;
      const head =
        this.partial === undefined
          ? chunk.subarray(at, at + MAX_HEADER)
          : Buffer.concat([this.partial, chunk.subarray(at, at + MAX_HEADER - prior)]);
      const size = headerSize(head);
      if (size === 0 || head.length < size) {
        // The chunk ends inside the header: keep it (a copy: the chunk is not ours).
        this.partial = Buffer.from(head);
        return stopAtBoundary ? -1 : end;
      }
      if ((head[0]! & 0x0f) === 0x8) this.closeSeen = true;
      this.partial = undefined;
      this.skip = size + payloadLength(head) - prior;
    }
  }
}

/** The header's length once its second byte is known; 0 before. */
function headerSize(head: Buffer): number {
  if (head.length < 2) return 0;
  const second = head[1]!;
  const lengthCode = second & 0x7f;
  const extended = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
  return 2 + extended + (second & 0x80 ? 4 : 0);
}

function payloadLength(head: Buffer): number {
  const lengthCode = head[1]! & 0x7f;
  if (lengthCode < 126) return lengthCode;
  if (lengthCode === 126) return head.readUInt16BE(2);
  return head.readUInt32BE(2) * 2 ** 32 + head.readUInt32BE(6);
}

/** 1001 "Going Away": the endpoint is going down (RFC 6455 §7.4.1). */
export const GOING_AWAY = 1001;

/** A close frame: unmasked as a server sends it (to the client), masked as a client sends it (to the upstream). */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, "utf8");
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]);
}
