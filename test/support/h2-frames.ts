/**
 * HTTP/2 frames written by hand, for the malformed input a real client
 * library refuses to send (a header name with upper case, a pseudo-header
 * after a regular one, DATA on stream 0…), and a reader of what the server
 * answers on a raw socket: its frames, the status of a response when the
 * HPACK block starts with an indexed :status (as both nginx and nghttp2 write
 * the common ones), RST_STREAM and GOAWAY codes. Every wait is bounded.
 */

import { connect, type Socket } from "node:net";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an `bits`-bit prefix whose high bits are `first`. */
function hpackInt(value: number, bits: number, first: number): Buffer {
  const max = (1 << bits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const bytes = [first | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A header block of literal fields without indexing, raw strings: exactly the names and values given. */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    parts.push(Buffer.from([0]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

export function headers(stream: number, fields: ReadonlyArray<readonly [string, string]>, endStream = true): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), stream, headerBlock(fields));
}

/** The client's start: the preface and empty SETTINGS. */
export function clientStart(): Buffer {
  return Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]);
}

export interface ServerFrame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

/** The static table's :status entries (RFC 7541 appendix A, indices 8-14). */
const STATUS_INDEX: Readonly<Record<number, number>> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/** What came back on a raw HTTP/2 connection, sorted out. */
export interface H2Outcome {
  /** The :status of each stream's HEADERS (0 when not an indexed common status). */
  readonly statuses: ReadonlyMap<number, number>;
  /** RST_STREAM codes by stream. */
  readonly resets: ReadonlyMap<number, number>;
  /** The GOAWAY's error code, if one came. */
  readonly goaway?: number;
  /** The connection closed before the wait ended. */
  readonly closed: boolean;
  readonly frames: readonly ServerFrame[];
}

function parseFrames(bytes: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (bytes.length - at >= 9) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes.length - at < 9 + length) break;
    frames.push({
      type: bytes[at + 3]!,
      flags: bytes[at + 4]!,
      stream: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}

export function outcome(bytes: Buffer, closed: boolean): H2Outcome {
  const frames = parseFrames(bytes);
  const statuses = new Map<number, number>();
  const resets = new Map<number, number>();
  let goaway: number | undefined;
  for (const f of frames) {
    if (f.type === FRAME.HEADERS) statuses.set(f.stream, STATUS_INDEX[(f.payload[0] ?? 0) & 0x7f] ?? 0);
    if (f.type === FRAME.RST_STREAM) resets.set(f.stream, f.payload.readUInt32BE(0));
    if (f.type === FRAME.GOAWAY) goaway = f.payload.readUInt32BE(4);
  }
  return { statuses, resets, ...(goaway !== undefined ? { goaway } : {}), closed, frames };
}

/**
 * Connect to `port`, write `bytes` (the server's SETTINGS are acknowledged), and collect what comes until
 * `enough` says so, the server closes, or `ms` pass.
 */
export function rawH2(
  port: number,
  bytes: Buffer,
  enough: (seen: H2Outcome) => boolean = (seen) => seen.goaway !== undefined,
  ms = 3000,
): Promise<H2Outcome> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    let acked = false;
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome(received, closed));
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const seen = outcome(received, false);
      if (!acked && seen.frames.some((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0)) {
        acked = true;
        socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      }
      if (enough(seen)) finish(false);
    });
    socket.write(bytes);
  });
}
