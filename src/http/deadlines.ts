/**
 * Fixed deadlines for many connections on one timer, as nginx's event timers:
 * a deadline is set once and is not pushed back by traffic (client_header_timeout
 * bounds a whole request head from its first byte; socket.setTimeout() is an
 * idle timer, re-armed by every byte, which a client dripping one byte a second
 * never trips).
 *
 * Deadlines of the same duration expire in the order they were set, so each
 * duration is a FIFO lane (a doubly linked list through the Deadline objects
 * themselves: setting or clearing one is O(1) and allocates nothing), and one
 * Node timer is armed for the earliest head of all lanes. Durations are few
 * (one per configured timeout value), so firing walks a handful of lanes.
 * Times are read from a monotonic clock and are exact to the millisecond, as
 * nginx's timers.
 */

import { performance } from "node:perf_hooks";

/** What a deadline calls when it passes. */
export interface DeadlineOwner {
  onDeadline(): void;
}

/** A FIFO of deadlines that share one duration. */
interface Lane {
  readonly ms: number;
  head: Deadline | undefined;
  tail: Deadline | undefined;
}

const lanes = new Map<number, Lane>();
let timer: NodeJS.Timeout | undefined;
/** When the armed timer is due (monotonic ms). */
let timerAt = Infinity;

/** One owner's deadline; reused for every deadline the owner sets. */
export class Deadline {
  /** When it passes (monotonic ms); meaningful while armed. */
  at = 0;
  /** @internal lane links */
  lane: Lane | undefined;
  /** @internal */
  prev: Deadline | undefined;
  /** @internal */
  next: Deadline | undefined;
  /** @internal taken off its lane by the timer, its owner not yet called */
  due = false;

  constructor(private readonly owner: DeadlineOwner) {}

  get armed(): boolean {
    return this.lane !== undefined;
  }

  /** Pass `ms` from now (replacing any earlier setting); 0 or less clears it. */
  set(ms: number): void {
    this.clear();
    if (!(ms > 0)) return;
    this.at = performance.now() + ms;
    let lane = lanes.get(ms);
    if (!lane) {
      lane = { ms, head: undefined, tail: undefined };
      lanes.set(ms, lane);
    }
    this.lane = lane;
    this.prev = lane.tail;
    if (lane.tail) lane.tail.next = this;
    else lane.head = this;
    lane.tail = this;
    if (this.at < timerAt) arm(this.at);
  }

  clear(): void {
    this.due = false;
    unlink(this);
  }

  /** @internal the timer found it passed: call the owner unless it was cleared or set again meanwhile */
  expire(): void {
    if (!this.due) return;
    this.due = false;
    this.owner.onDeadline();
  }
}

function unlink(d: Deadline): void {
  const lane = d.lane;
  if (!lane) return;
  if (d.prev) d.prev.next = d.next;
  else lane.head = d.next;
  if (d.next) d.next.prev = d.prev;
  else lane.tail = d.prev;
  d.prev = d.next = d.lane = undefined;
  if (!lane.head) lanes.delete(lane.ms);
  // The timer stays armed: should it fire with nothing due, it arms for the next deadline.
}

function arm(at: number): void {
  if (timer) clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(fire, Math.max(1, Math.ceil(at - performance.now())));
  // A pending deadline alone keeps nothing alive: its sockets do.
  timer.unref();
}

/** Expire every deadline that has passed, then arm for the earliest left. */
function fire(): void {
  timer = undefined;
  timerAt = Infinity;
  const now = performance.now();
  const due: Deadline[] = [];
  for (const lane of lanes.values()) {
    for (let d = lane.head; d && d.at <= now; d = lane.head) {
      unlink(d);
      d.due = true;
      due.push(d);
    }
  }
  let earliest = Infinity;
  for (const lane of lanes.values()) earliest = Math.min(earliest, lane.head?.at ?? Infinity);
  if (earliest < Infinity) arm(earliest);
  // Owners run once the lanes are consistent: an owner may set a deadline again, or close
  // another owner (whose clear() then cancels its call); each owner guards its own entry point.
  for (const d of due) d.expire();
}

/** Deadlines currently set (tests). */
export function armedDeadlines(): number {
  let count = 0;
  for (const lane of lanes.values()) for (let d = lane.head; d; d = d.next) count++;
  return count;
}
