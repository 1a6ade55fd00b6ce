/**
 * limit_rate and limit_rate_after, as ngx_http_write_filter() applies them:
 * the rate is evaluated at the response's first write (r->limit_rate, unless
 * `set $limit_rate` or an upstream's X-Accel-Limit-Rate gave one), and then
 * each write may send at most
 *
 *     rate × (now in seconds − the request's start second + 1) − (sent − after)
 *
 * bytes, where `sent` counts the whole response (head included); a write that
 * finds nothing allowed waits (−limit × 1000 / rate + 1) ms, and a write that
 * sent n bytes past `after` makes the next one wait n × 1000 / rate ms.
 *
 * The writer keeps what it may not send yet and says "wait" (false) to its
 * producer — a file read, an upstream — until the queue is out, so at most
 * one piece of the producer's waits here: nothing is buffered without bound.
 * Also proxy_limit_rate's upstream reading (ngx_event_pipe_read_upstream).
 */

import type { Socket } from "node:net";
import type { HttpRequest } from "./request.js";
import type { SizeValue } from "../config/model.js";
import { parseSizeValue } from "../core/sizes.js";

/** Where a response's body goes: through the limit when the request has a rate. */
export interface BodyWriter {
  /** Write pieces in order; false when the producer should wait for its `resume`. */
  write(parts: readonly Buffer[]): boolean;
  /** `done` once every piece written has left the limiter (at once without a limit). */
  whenFlushed(done: () => void): void;
  /**
   * Pieces wait for the limit: a producer must not go on (on the socket's
   * 'drain' either) until `resume`, so that no more than one of its pieces waits here.
   */
  readonly holding: boolean;
}

/**
 * The writer of a response's body to `socket` under the request's limit_rate.
 * `resume` is called when a producer told to wait may go on.
 */
export function bodyWriter(r: HttpRequest, socket: Socket, resume: () => void): BodyWriter {
  const rate = requestRate(r);
  if (rate === 0) return new DirectWriter(socket);
  return new WriteLimiter(r, socket, rate, sizeOf(r, r.loc.limitRateAfter), resume);
}

class DirectWriter implements BodyWriter {
  readonly holding = false;
  constructor(private readonly socket: Socket) {}
  write(parts: readonly Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    let ok = true;
    for (const part of parts) ok = this.socket.write(part) && ok;
    return ok;
  }
  whenFlushed(done: () => void): void {
    done();
  }
}

/** r->limit_rate: set already, or the location's limit_rate evaluated now (and kept, as nginx keeps it). */
export function requestRate(r: HttpRequest): number {
  r.limitRate ??= sizeOf(r, r.loc.limitRate);
  return r.limitRate;
}

/** ngx_http_complex_value_size(): a fixed size, or the value with variables parsed (0 and an error line when invalid). */
export function sizeOf(r: HttpRequest, value: SizeValue): number {
  if (typeof value === "number") return value;
  const text = value.evaluate(r);
  const size = parseSizeValue(text);
  if (size === undefined) {
    r.reportError("error", `invalid size "${text}"`, r.logContext("while sending response to client"));
    return 0;
  }
  return size;
}

class WriteLimiter implements BodyWriter {
  private readonly queue: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushed: (() => void) | undefined;
  private readonly startSec: number;

  constructor(
    private readonly r: HttpRequest,
    private readonly socket: Socket,
    private readonly rate: number,
    private readonly after: number,
    private readonly resume: () => void,
  ) {
    this.startSec = Math.floor(r.startMs / 1000);
    socket.once("close", this.onClose);
  }

  private readonly onClose = (): void => this.stop();

  get holding(): boolean {
    return this.queue.length > 0;
  }

  write(parts: readonly Buffer[]): boolean {
    for (const part of parts) if (part.length > 0) this.queue.push(part);
    if (this.timer === undefined) this.send();
    return this.queue.length === 0 && !this.socket.writableNeedDrain;
  }

  /** The response's end: `done` once the queue is out; the writer lets go of the socket then. */
  whenFlushed(done: () => void): void {
    const last = (): void => {
      this.socket.off("close", this.onClose);
      done();
    };
    if (this.queue.length === 0) last();
    else this.flushed = last;
  }

  /** One step of the write filter: send what the limit allows now, then wait as nginx waits. */
  private send(): void {
    if (this.socket.destroyed) return this.stop();
    const sent = this.r.bytesSent;
    const limit = this.rate * (Math.floor(Date.now() / 1000) - this.startSec + 1) - (sent - this.after);
    if (limit <= 0) {
      this.wait(Math.floor((-limit * 1000) / this.rate) + 1);
      return;
    }
    let left = limit;
    while (left > 0 && this.queue.length > 0) {
      const head = this.queue[0]!;
      const piece = head.length <= left ? head : head.subarray(0, left);
      if (piece === head) this.queue.shift();
      else this.queue[0] = head.subarray(left);
      this.socket.write(piece);
      left -= piece.length;
    }
    const nsent = sent + (limit - left);
    const delay = Math.floor(((Math.max(0, nsent - this.after) - Math.max(0, sent - this.after)) * 1000) / this.rate);
    if (this.queue.length > 0) {
      this.wait(Math.max(delay, 1));
      return;
    }
    // The queue is out: later writes wait for the delay this one earned (c->write->delayed).
    if (delay > 0) this.wait(delay);
    this.drained();
  }

  private wait(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.queue.length > 0) this.send();
    }, ms);
  }

  private drained(): void {
    const flushed = this.flushed;
    this.flushed = undefined;
    if (flushed) {
      flushed();
      return;
    }
    // The producer was told to wait: it may go on (once the socket, too, takes more).
    if (!this.socket.writableNeedDrain) this.resume();
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

/**
 * proxy_limit_rate (ngx_event_pipe_read_upstream): reading the upstream's
 * body at most `rate` bytes a second from the moment the response began,
 * `hold` pausing the reading and `release` resuming it.
 */
export class ReadLimiter {
  private readLength = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startSec = Math.floor(Date.now() / 1000);

  constructor(
    private readonly rate: number,
    private readonly hold: () => void,
    private readonly release: () => void,
  ) {}

  /** Whether reading waits for the rate now. */
  get holding(): boolean {
    return this.timer !== undefined;
  }

  /** `n` bytes were read: the next read waits n × 1000 / rate ms, or until the limit allows any. */
  took(n: number): void {
    this.readLength += n;
    const limit = this.rate * (Math.floor(Date.now() / 1000) - this.startSec + 1) - this.readLength;
    const delay = Math.max(
      Math.floor((n * 1000) / this.rate),
      limit <= 0 ? Math.floor((-limit * 1000) / this.rate) + 1 : 0,
    );
    if (delay <= 0 || this.timer !== undefined) return;
    this.hold();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, delay);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
