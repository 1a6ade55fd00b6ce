/**
 * One timer for every idle timeout of its duration class, instead of a Timeout
 * per socket: an entry records when it was last active, and a sweep every
 * second expires those idle longer than their limit. Activity costs one
 * assignment; a tunnel costs no timer object. Timeouts fire up to one sweep
 * late, which is well inside what idle limits of seconds need.
 */

export interface IdleEntry {
  /** Date.now() of the last activity. */
  lastActiveMs: number;
  readonly idleLimitMs: number;
  expire(): void;
}

const SWEEP_MS = 1000;

export class IdleSweeper {
  private readonly entries = new Set<IdleEntry>();
  private timer: NodeJS.Timeout | undefined;

  add(entry: IdleEntry): void {
    this.entries.add(entry);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), SWEEP_MS);
      this.timer.unref();
    }
  }

  remove(entry: IdleEntry): void {
    this.entries.delete(entry);
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const entry of this.entries) {
      if (now - entry.lastActiveMs >= entry.idleLimitMs) {
        this.remove(entry);
        entry.expire();
      }
    }
  }
}
