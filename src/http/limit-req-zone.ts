/**
 * A limit_req zone's leaky buckets and ngx_http_limit_req_handler()'s shared
 * part, carried out whole by the zones' owner: ngx_http_limit_req_lookup()
 * for each limit of the location (the last one accounts at once, the others
 * hold their entry), the roll-back of the held entries when one limit refuses
 * (ngx_http_limit_req_unlock()), else ngx_http_limit_req_account() with the
 * longest delay. Excess, burst and delay are in 1/1000 requests, the rate in
 * 1/1000 requests a second, the clock in ms, with nginx's integer arithmetic.
 * Entries are kept least recently used first; ngx_http_limit_req_expire()
 * drops idle ones before a new entry is made and, when the zone is full, the
 * oldest by force.
 */

import type { ReqCheck, ReqLimit } from "./shared-zones.js";
import { entryCost, REQ_NODE, zoneCapacity } from "./zone-capacity.js";

interface ReqNode {
  excess: number;
  last: number;
  /** Requests between their lookup and their accounting (never across messages: an operation is whole). */
  count: number;
  readonly cost: number;
}

export class ReqZone {
  readonly kind = "limit_req";
  private readonly capacity: number;
  private used = 0;
  /** Least recently used first (nginx's queue, read from its tail). */
  private readonly nodes = new Map<string, ReqNode>();

  constructor(
    size: number,
    readonly key: string,
  ) {
    this.capacity = zoneCapacity(size);
  }

  /** ngx_http_limit_req_lookup(); `held` gets the entry of a limit that is not the last. */
  lookup(limit: ReqLimit, key: string, now: number, account: boolean, held: (node: ReqNode) => void): Lookup {
    const found = this.nodes.get(key);
    if (found !== undefined) {
      this.nodes.delete(key);
      this.nodes.set(key, found);
      const ms = elapsed(now, found.last);
      const excess = Math.max(0, found.excess - Math.floor((limit.rate * ms) / 1000) + 1000);
      if (excess > limit.burst) return { rc: "busy", excess };
      if (account) {
        found.excess = excess;
        if (ms !== 0) found.last = now;
        return { rc: "ok", excess };
      }
      found.count++;
      held(found);
      return { rc: "again", excess };
    }
    const cost = entryCost(REQ_NODE, key.length);
    this.expire(1, limit.rate, now);
    if (this.used + cost > this.capacity) {
      this.expire(0, limit.rate, now);
      if (this.used + cost > this.capacity) return { rc: "error", excess: 0 };
    }
    const node: ReqNode = { excess: 0, last: account ? now : 0, count: account ? 0 : 1, cost };
    this.nodes.set(key, node);
    this.used += cost;
    if (!account) held(node);
    return { rc: account ? "ok" : "again", excess: 0 };
  }

  /** ngx_http_limit_req_expire(): n = 1 drops up to two idle entries, n = 0 the oldest by force first. */
  private expire(n: number, rate: number, now: number): void {
    while (n < 3) {
      const oldest = this.nodes.entries().next();
      if (oldest.done) return;
      const [key, node] = oldest.value;
      // Entries in use are the most recently looked up: nothing older is free either.
      if (node.count !== 0) return;
      if (n++ !== 0) {
        const ms = Math.abs(now - node.last);
        if (ms < 60_000) return;
        if (node.excess - Math.floor((rate * ms) / 1000) > 0) return;
      }
      this.nodes.delete(key);
      this.used -= node.cost;
    }
  }
}

interface Lookup {
  readonly rc: "again" | "ok" | "busy" | "error";
  readonly excess: number;
}

/** ms since `last`, as nginx bounds it: a clock gone back a little counts 0, a lot counts 1. */
function elapsed(now: number, last: number): number {
  const ms = now - last;
  if (ms < -60_000) return 1;
  return ms < 0 ? 0 : ms;
}

/** ngx_http_limit_req_handler()'s work on the zones for one request. */
export function checkRequest(limits: readonly ReqLimit[], zoneOf: (limit: ReqLimit) => ReqZone, now: number): ReqCheck {
  const held: Array<ReqNode | undefined> = [];
  let rc: Lookup["rc"] | "declined" = "declined";
  let excess = 0;
  let index = 0;
  let n = 0;
  for (; n < limits.length; n++) {
    index = n;
    const limit = limits[n]!;
    if (limit.key === null) continue;
    const found = zoneOf(limit).lookup(limit, limit.key, now, n === limits.length - 1, (node) => (held[n] = node));
    rc = found.rc;
    excess = found.excess;
    if (rc !== "again") break;
  }
  if (rc === "declined") return { rc, excess: 0, index: 0, delay: 0 };
  if (rc === "busy" || rc === "error") {
    // ngx_http_limit_req_unlock(): the entries held by the limits before this one.
    for (const node of held.slice(0, n)) if (node) node.count--;
    return { rc, excess, index, delay: 0 };
  }
  if (rc === "again") excess = 0;
  return account(limits, n, held, excess, index, now);
}

/** ngx_http_limit_req_account(): the held entries counted; the longest delay and the limit that asks it. */
function account(
  limits: readonly ReqLimit[],
  n: number,
  held: Array<ReqNode | undefined>,
  excessIn: number,
  indexIn: number,
  now: number,
): ReqCheck {
  let excess = excessIn;
  let index = indexIn;
  const first = limits[index]!;
  let maxDelay = excess <= first.delay ? 0 : Math.floor(((excess - first.delay) * 1000) / first.rate);
  while (n-- > 0) {
    const node = held[n];
    if (node === undefined) continue;
    const limit = limits[n]!;
    const ms = elapsed(now, node.last);
    const nodeExcess = Math.max(0, node.excess - Math.floor((limit.rate * ms) / 1000) + 1000);
    if (ms !== 0) node.last = now;
    node.excess = nodeExcess;
    node.count--;
    if (nodeExcess <= limit.delay) continue;
    const delay = Math.floor(((nodeExcess - limit.delay) * 1000) / limit.rate);
    if (delay > maxDelay) {
      maxDelay = delay;
      excess = nodeExcess;
      index = n;
    }
  }
  return { rc: "ok", excess, index, delay: maxDelay };
}
