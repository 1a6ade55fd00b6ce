/**
 * One direction of a WebSocket tunnel that follows frames: the bytes from
 * `source` to `target`, read as frames from their first byte (RFC 6455 §5.2)
 * and forwarded chunk by chunk, as untouched as the features allow.
 *
 * Only headers are read, plus the payload of the small control frames a
 * feature needs (a close frame's code, a pong that may answer wsgate's ping):
 * such a frame, ≤ 139 bytes, is held until whole when it straddles chunks,
 * as is a header split across chunks, so that a frame can still be cut off
 * before any byte of it is sent. Everything else is written as it came, in
 * as few writes as the chunk allows (one, when nothing happens in it).
 *
 * What a frame means for the tunnel — message counts, the size and rate
 * limits, protocol checks, pongs, close codes — is asked of the owner
 * (tunnel-close.ts's FramedTunnel); the flow knows boundaries and states:
 *   forward       bytes pass;
 *   close-pending a close frame is due: the frame in flight finishes, then
 *                 the close frame goes, and the flow is closed;
 *   closed        a close frame went to the target: what the source sends is
 *                 read and dropped, watching for its own close frame (the
 *                 answer).
 * A ping due to the target goes out the same way, at the next boundary.
 */

import type { Socket } from "node:net";
import {
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PONG,
  closeFrame,
  controlFrame,
  headerSize,
  payloadLength,
  OPCODE_PING,
} from "./ws-frames.js";

/** What a flow asks of its tunnel. */
export interface FlowOwner {
  /** Checks RFC 6455's rules (1002 for a frame that breaks them). */
  readonly checks: boolean;
  /** The largest message, payload bytes; 0: none. */
  readonly maxMessage: number;
  /** Pongs may answer wsgate's pings. */
  readonly pinging: boolean;
  /** A data message starts from this flow's source: false ends the tunnel (its rate is over). */
  messageStarts(flow: FrameFlow): boolean;
  /** The frame at the flow's cursor breaks a rule or a limit: the tunnel is to be ended, with this close code to the source. */
  offends(flow: FrameFlow, code: number, what: string): void;
  /** The offending frame was cut off: end the tunnel now. */
  cutOff(flow: FrameFlow): void;
  /** A close frame from the flow's source (its code, 0 without one). */
  closeFrameSeen(flow: FrameFlow, code: number): void;
  /** A pong answering wsgate's ping came from the flow's source. */
  pongHeard(flow: FrameFlow): void;
  /** The flow wrote a ping to its target. */
  pingSent(flow: FrameFlow): void;
  /** A closed flow's source answered with its close frame. */
  answered(): void;
}

/** wsgate's pings carry this payload, so that their pongs are known and kept to wsgate (one value per process). */
export const PING_TOKEN = Buffer.from(`wsgate${process.pid.toString(36).padStart(6, "0")}`.slice(0, 12));

const FORWARD = 0;
const CLOSE_PENDING = 1;
export const CLOSED = 2;

/** A frame's fate. */
const PASS = 0;
const DROP = 1;
const CUT = 2;

/** The longest frame header, and the longest control frame held whole (header, then 125 bytes). */
const MAX_HEADER = 14;
const MAX_CONTROL = MAX_HEADER + 125;

export class FrameFlow {
  state = FORWARD;
  /** The close code due once the frame in flight is through (close-pending). */
  private pendingCode = 0;
  /** A ping is due at the next boundary. */
  pingDue = false;
  /** Payload bytes of the frame in flight still to pass. */
  private skip = 0;
  /** Bytes of a split header, or of a whole control frame being gathered, held in `held`. */
  private have = 0;
  private held: Buffer | undefined;
  /** The opcode of the message in progress (1 or 2); 0 between messages. */
  private messageOpcode = 0;
  /** Its payload so far. */
  private messageBytes = 0;
  /** Data messages and their payload bytes from the source. */
  messages = 0;
  bytes = 0;
  /** A close frame came from the source (since the flow closed, once closed). */
  closeSeen = false;
  /** When the source was last heard from, and when wsgate last pinged it (0: never). */
  heardMs = Date.now();
  pingMs = 0;

  constructor(
    private readonly owner: FlowOwner,
    readonly source: Socket,
    readonly target: Socket,
    /** The source is the client: its frames are masked, and what the flow writes to the upstream is. */
    readonly fromClient: boolean,
  ) {}

  /** At a frame boundary on the wire: nothing of a frame is half written to the target. */
  get atBoundary(): boolean {
    return this.skip === 0;
  }

  /** Bytes read from the source: forwarded (false: the target is full, pause the source), or dropped once closed. */
  pass(chunk: Buffer): boolean {
    if (this.owner.pinging) this.heardMs = Date.now();
    const end = chunk.length;
    let at = 0;
    let pos = 0;
    let more = true;
    for (;;) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, end - at);
        this.skip -= take;
        at += take;
        if (this.skip > 0) break;
      }
      if (this.state === CLOSE_PENDING || (this.pingDue && this.state === FORWARD)) {
        more = this.write(chunk, pos, at) && more;
        pos = at;
        if (this.state === CLOSE_PENDING) this.sendClose(this.pendingCode);
        else this.sendPing();
      }
      if (at >= end) break;
      const available = end - at;
      const whole =
        this.have === 0 &&
        available >= 2 &&
        available >= headerSize(chunk[at + 1]!) &&
        available >= this.frameBytes(chunk, at);
      if (whole) {
        const size = headerSize(chunk[at + 1]!);
        const fate = this.decide(chunk, at, size);
        if (fate === PASS) {
          // The header and (for a held-size control frame) the payload stay in the span to write.
          this.skip = payloadLength(chunk, at, chunk[at + 1]!);
          at += size;
          continue;
        }
        more = this.write(chunk, pos, at) && more;
        if (fate === CUT) {
          this.owner.cutOff(this);
          this.skip = payloadLength(chunk, at, chunk[at + 1]!);
          at += size;
          pos = at;
          continue;
        }
        at += size + payloadLength(chunk, at, chunk[at + 1]!);
        pos = at;
        continue;
      }
      // A header, or a control frame, that straddles chunks: what came before it goes now, it is held.
      if (this.have === 0) more = this.write(chunk, pos, at) && more;
      at = this.gather(chunk, at);
      pos = at;
      if (!this.gathered()) break;
      const held = this.held!;
      const size = headerSize(held[1]!);
      const fate = this.decide(held, 0, size);
      const length = payloadLength(held, 0, held[1]!);
      const controlHeld = this.have > size;
      if (fate === PASS) more = this.writeCopy(held, this.have) && more;
      else if (fate === CUT) this.owner.cutOff(this);
      this.have = 0;
      if (!controlHeld && fate !== DROP) this.skip = length;
    }
    if (pos < end) more = this.write(chunk, pos, end) && more;
    return this.state === CLOSED || more;
  }

  /** Send `code` to the target once the frame in flight is through (now, at a boundary); then drop what comes. */
  closeWith(code: number): void {
    if (this.state !== FORWARD) return;
    if (this.skip === 0) this.sendClose(code);
    else {
      this.state = CLOSE_PENDING;
      this.pendingCode = code;
    }
  }

  /** Ping the target now, at a boundary, else at the next one. */
  ping(): void {
    if (this.state !== FORWARD || this.pingDue) return;
    if (this.skip === 0) this.sendPing();
    else this.pingDue = true;
  }

  /**
   * Drop what the source sends from now on, without a close frame to the
   * target (it is gone); `answered`: nothing is awaited from the source
   * either, else its close frame is.
   */
  drop(answered: boolean): void {
    this.state = CLOSED;
    this.pingDue = false;
    this.closeSeen = answered;
    this.source.resume();
  }

  /** The bytes a whole frame at `at` needs in the chunk: its header, with the payload when a control frame is held whole. */
  private frameBytes(buf: Buffer, at: number): number {
    const second = buf[at + 1]!;
    const size = headerSize(second);
    return this.holdsPayload(buf[at]!, second) ? size + (second & 0x7f) : size;
  }

  /** A close frame's code and a pong's payload are read: such a frame (≤ 125 bytes of payload) is taken whole. */
  private holdsPayload(first: number, second: number): boolean {
    const opcode = first & 0x0f;
    const length = second & 0x7f;
    if (length > 125) return false;
    return opcode === OPCODE_CLOSE || (opcode === OPCODE_PONG && this.owner.pinging && length === PING_TOKEN.length);
  }

  /** Copy bytes of a straddling header or control frame into `held`; the offset in `chunk` after them. */
  private gather(chunk: Buffer, at: number): number {
    const held = (this.held ??= Buffer.allocUnsafe(MAX_CONTROL));
    let want = this.wanted();
    while (this.have < want && at < chunk.length) {
      const copied = chunk.copy(held, this.have, at, Math.min(chunk.length, at + want - this.have));
      this.have += copied;
      at += copied;
      want = this.wanted();
    }
    return at;
  }

  /** How many bytes the held frame needs so far: 2, then its header, then its payload if it is held whole. */
  private wanted(): number {
    const held = this.held!;
    if (this.have < 2) return 2;
    const size = headerSize(held[1]!);
    if (this.have < size) return size;
    return this.holdsPayload(held[0]!, held[1]!) ? size + (held[1]! & 0x7f) : size;
  }

  private gathered(): boolean {
    return this.have >= 2 && this.have >= this.wanted();
  }

  /** A frame whose header is whole at `h` in `buf` (with its payload, when held whole): pass, drop or cut it. */
  private decide(buf: Buffer, h: number, size: number): number {
    const first = buf[h]!;
    const second = buf[h + 1]!;
    const opcode = first & 0x0f;
    const length = payloadLength(buf, h, second);
    if (this.state === CLOSED) {
      if (opcode === OPCODE_CLOSE) this.sawClose(buf, h, size, length);
      return PASS;
    }
    const owner = this.owner;
    if (owner.checks) {
      const broken = brokenRule(first, second, length, this.fromClient, this.messageOpcode);
      if (broken) return this.offend(1002, broken);
    }
    if (opcode >= OPCODE_CLOSE) {
      if (opcode === OPCODE_CLOSE) this.sawClose(buf, h, size, length);
      else if (opcode === OPCODE_PONG && this.holdsPayload(first, second) && isOurPong(buf, h, size, second)) {
        owner.pongHeard(this);
        return DROP;
      }
      return PASS;
    }
    const starts = opcode !== OPCODE_CONTINUATION;
    if (starts) {
      this.messageOpcode = opcode;
      this.messageBytes = 0;
    }
    this.messageBytes += length;
    if (owner.maxMessage > 0 && this.messageBytes > owner.maxMessage) {
      return this.offend(1009, `too large WebSocket message: ${this.messageBytes} bytes`);
    }
    if (starts) {
      if (!owner.messageStarts(this)) return CUT;
      this.messages++;
    }
    this.bytes += length;
    if (first & 0x80) this.messageOpcode = 0;
    return PASS;
  }

  private offend(code: number, what: string): number {
    this.owner.offends(this, code, what);
    return CUT;
  }

  private sawClose(buf: Buffer, h: number, size: number, length: number): void {
    this.closeSeen = true;
    let code = 0;
    if (length >= 2 && length <= 125 && buf.length >= h + size + 2) {
      code = buf.readUInt16BE(h + size);
      if (buf[h + 1]! & 0x80) code ^= buf.readUInt16BE(h + size - 4);
    }
    this.owner.closeFrameSeen(this, code);
    if (this.state === CLOSED) this.owner.answered();
  }

  private sendClose(code: number): void {
    this.state = CLOSED;
    this.pingDue = false;
    // From now on a close frame from the source is its answer.
    this.closeSeen = false;
    if (!this.target.destroyed) this.target.write(closeFrame(code, "", this.fromClient));
    // What the source sends from now on is dropped: let it flow.
    this.source.resume();
  }

  private sendPing(): void {
    this.pingDue = false;
    if (this.target.destroyed) return;
    this.target.write(controlFrame(OPCODE_PING, PING_TOKEN, this.fromClient));
    this.owner.pingSent(this);
  }

  private write(chunk: Buffer, from: number, to: number): boolean {
    if (to <= from || this.state === CLOSED || this.target.destroyed) return true;
    return this.target.write(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
  }

  /** Held bytes are reused: what is written from them is a copy. */
  private writeCopy(held: Buffer, length: number): boolean {
    if (this.state === CLOSED || this.target.destroyed) return true;
    return this.target.write(Buffer.from(held.subarray(0, length)));
  }
}

/** What a frame breaks of RFC 6455 §5.1–5.5, or undefined. */
function brokenRule(
  first: number,
  second: number,
  length: number,
  fromClient: boolean,
  messageOpcode: number,
): string | undefined {
  const opcode = first & 0x0f;
  if ((second & 0x80) === 0 && fromClient) return "an unmasked frame";
  if (second & 0x80 && !fromClient) return "a masked frame";
  if ((opcode > 2 && opcode < 8) || opcode > 10) return `a frame with reserved opcode ${opcode}`;
  if (opcode >= 8) return (first & 0x80) === 0 || length > 125 ? "a fragmented or long control frame" : undefined;
  if (opcode === OPCODE_CONTINUATION && messageOpcode === 0) return "a continuation frame outside a message";
  if (opcode !== OPCODE_CONTINUATION && messageOpcode !== 0) return "a new message inside a fragmented one";
  return undefined;
}

/** The pong at `h` carries wsgate's token (unmasked with the frame's key when masked). */
function isOurPong(buf: Buffer, h: number, size: number, second: number): boolean {
  const masked = (second & 0x80) !== 0;
  const payload = h + size;
  for (let i = 0; i < PING_TOKEN.length; i++) {
    const byte = masked ? buf[payload + i]! ^ buf[payload - 4 + (i & 3)]! : buf[payload + i]!;
    if (byte !== PING_TOKEN[i]) return false;
  }
  return true;
}
