/**
 * proxy_send_timeout: how long a write to the upstream may make no progress.
 * As ngx_http_upstream_send_request(), the clock runs only while the request
 * is blocked (bytes are waiting for the upstream to take them) and starts
 * over each time it moves on; an upstream that reads nothing for that long
 * has timed out "while sending request to upstream".
 *
 * Progress is seen through the write callbacks (a piece handed to the
 * kernel) and new writes; the timer is one per watch and re-armed lazily, so
 * a busy stream costs no timer churn.
 */

/** What the watch reads of the socket: the bytes it still holds. */
export interface WatchedWriter {
  readonly writableLength: number;
  /** Corked: the bytes wait for uncork(), not for the upstream (the writer calls wrote() after it). */
  readonly writableCorked?: number;
}

export class SendWatch {
  private timer: NodeJS.Timeout | undefined;
  private lastProgressMs = 0;
  private flushedWaiter: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly socket: WatchedWriter,
    private readonly timeoutMs: number,
    private readonly expired: () => void,
  ) {}

  /** After a write: bytes left in the socket start the clock (or keep it running). */
  wrote(): void {
    this.lastProgressMs = Date.now();
    if ((this.socket.writableCorked ?? 0) > 0) return;
    if (this.socket.writableLength > 0) this.arm();
    else this.settled();
  }

  /** The write callback: a piece reached the kernel. */
  readonly flushed = (): void => {
    this.lastProgressMs = Date.now();
    if (this.socket.writableLength === 0) this.settled();
  };

  /** `then` once the socket holds nothing more (at once if it holds nothing now). */
  whenFlushed(then: () => void): void {
    if (this.stopped) return;
    if (this.socket.writableLength === 0) {
      then();
      return;
    }
    this.flushedWaiter = then;
  }

  /** The request no longer matters (a response came, the try ended): no timeout, no waiter. */
  stop(): void {
    this.stopped = true;
    this.flushedWaiter = undefined;
    this.disarm();
  }

  private settled(): void {
    this.disarm();
    const waiter = this.flushedWaiter;
    this.flushedWaiter = undefined;
    waiter?.();
  }

  private arm(): void {
    if (this.timer !== undefined || this.stopped || this.timeoutMs <= 0) return;
    this.timer = setTimeout(this.check, this.timeoutMs);
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (this.stopped || this.socket.writableLength === 0) return;
    const left = this.lastProgressMs + this.timeoutMs - Date.now();
    if (left > 0) {
      this.timer = setTimeout(this.check, left);
      return;
    }
    this.stopped = true;
    this.expired();
  };
}
