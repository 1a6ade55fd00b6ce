/**
 * HTTP/2 at the frame level, for tests that must do what a well-behaved
 * client (Node's http2) never does: open more streams than the server allows,
 * open a stream after a GOAWAY, send garbage after the preface, vanish mid
 * stream. A raw TCP (or TLS) socket, frames written by hand (header blocks as
 * HPACK literals without indexing or Huffman coding), and a reader of the
 * server's frames (SETTINGS, GOAWAY, RST_STREAM, HEADERS, DATA). Every wait
 * is bounded.
 */

import { connect as tcpConnect, type Socket } from "node:net";
import { withTimeout } from "./wait.js";
import { FLAG, FRAME, PREFACE, frame, headerBlock } from "./h2-frames.js";

export { FLAG, FRAME, PREFACE, frame, headerBlock } from "./h2-frames.js";

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A HEADERS frame for a GET of `path` (END_STREAM unless `bodyFollows`). */
export function getHeaders(streamId: number, path: string, bodyFollows = false, method = "GET"): Buffer {
  const block = headerBlock([
    [":method", method],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
  ]);
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (bodyFollows ? 0 : FLAG.END_STREAM), streamId, block);
}

/** SETTINGS parameters by identifier (RFC 9113 6.5.2; 8 is ENABLE_CONNECT_PROTOCOL, RFC 8441). */
export function parseSettings(payload: Buffer): Map<number, number> {
  const settings = new Map<number, number>();
  for (let at = 0; at + 6 <= payload.length; at += 6)
    settings.set(payload.readUInt16BE(at), payload.readUInt32BE(at + 2));
  return settings;
}

export function goawayOf(f: Frame): { lastStreamId: number; code: number } {
  return { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
}

/** A client speaking raw frames: the server's frames are collected as they come. */
export class RawH2 {
  readonly frames: Frame[] = [];
  closed = false;
  private buffered = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.parse();
      this.wake();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  /** The preface, an empty SETTINGS, and an ACK of the server's SETTINGS once they come. */
  start(extra: Buffer = Buffer.alloc(0)): void {
    this.socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), extra]));
  }

  send(...frames: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames));
  }

  /** The first frame (from the start) that `match` accepts, within `ms`. */
  async waitFrame(match: (f: Frame) => boolean, ms = 5000, what = "a frame"): Promise<Frame> {
    return withTimeout(
      new Promise<Frame>((resolve, reject) => {
        const check = (): void => {
          const found = this.frames.find(match);
          if (found) {
            this.waiters.delete(check);
            resolve(found);
          } else if (this.closed) {
            this.waiters.delete(check);
            reject(new Error(`the connection closed before ${what}`));
          }
        };
        this.waiters.add(check);
        check();
      }),
      ms,
      what,
    );
  }

  /** Resolves when the server has closed the connection, within `ms`. */
  async waitClosed(ms = 5000): Promise<void> {
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!this.closed) return;
          this.waiters.delete(check);
          resolve();
        };
        this.waiters.add(check);
        check();
      }),
      ms,
      "the server to close the connection",
    );
  }

  /** The server's SETTINGS (not the ACK). */
  async settings(): Promise<Map<number, number>> {
    const f = await this.waitFrame((x) => x.type === FRAME.SETTINGS && (x.flags & FLAG.ACK) === 0, 5000, "SETTINGS");
    return parseSettings(f.payload);
  }

  /** The bytes of DATA on `streamId` so far, and whether END_STREAM came. */
  body(streamId: number): { data: Buffer; ended: boolean } {
    const own = this.frames.filter((f) => f.streamId === streamId && f.type === FRAME.DATA);
    const ended = this.frames.some(
      (f) => f.streamId === streamId && (f.type === FRAME.DATA || f.type === FRAME.HEADERS) && f.flags & 1,
    );
    return { data: Buffer.concat(own.map((f) => f.payload)), ended };
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(): void {
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) return;
      const f: Frame = {
        type: this.buffered[3]!,
        flags: this.buffered[4]!,
        streamId: this.buffered.readUInt32BE(5) & 0x7fffffff,
        payload: this.buffered.subarray(9, 9 + length),
      };
      this.buffered = this.buffered.subarray(9 + length);
      this.frames.push(f);
      // Acknowledge the server's settings, as a client must.
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0) this.send(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** A raw client on 127.0.0.1:`port`, connected (the preface not yet sent). */
export async function rawH2(port: number): Promise<RawH2> {
  const socket = tcpConnect({ host: "127.0.0.1", port });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    }),
    5000,
    `a connection to port ${port}`,
  );
  return new RawH2(socket);
}
