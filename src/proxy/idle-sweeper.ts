/**
 * One timer for many timeouts, instead of a Timeout per socket: an entry
 * records when it was last active, and a sweep every `intervalMs` looks at
 * each entry with one shared function that expires those idle longer than
 * their limit. Activity costs one assignment; an entry costs no timer object.
 * Timeouts fire up to one sweep late, which is well inside what limits of
 * seconds need. The timer exists only while there are entries.
 */

export interface IdleEntry {
  /** Date.now() of the last activity. */
  lastActiveMs: number;
}

/** Looks at one entry at `now`: true when it has expired (the sweeper then drops it). */
export type SweepCheck<T extends IdleEntry> = (entry: T, now: number) => boolean;

export class IdleSweeper<T extends IdleEntry> {
  private readonly entries = new Set<T>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly check: SweepCheck<T>,
  ) {}

  add(entry: T): void {
    this.entries.add(entry);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.intervalMs);
      this.timer.unref();
    }
  }

  remove(entry: T): void {
    this.entries.delete(entry);
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  has(entry: T): boolean {
    return this.entries.has(entry);
  }

  private sweep(): void {
    const now = Date.now();
    for (const entry of this.entries) if (this.check(entry, now)) this.remove(entry);
  }
}
