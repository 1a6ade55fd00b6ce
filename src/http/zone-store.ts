/**
 * The shared zones themselves, in the one process that owns them (the
 * master, or the only process): each operation is carried out whole, so it
 * is exact as nginx's under the zone's mutex. Zones are found by identity —
 * use, name and size — and made on first use; a reload that keeps a zone's
 * name and size keeps its contents (nginx reuses such a zone), and `retain`
 * drops the zones no configuration in force names.
 *
 * The store knows who holds what: a limit_conn slot is taken for a holder (a
 * worker's pid) and given back by it; when a holder goes away (a worker that
 * exited, crashed included) its slots are given back, so none leaks.
 */

import type { ConnTake, OpName, OpOf, ReqLimit, ZoneAnswers, ZoneOp, ZoneRef } from "./shared-zones.js";
import { checkRequest, ReqZone } from "./limit-req-zone.js";
import { CONN_NODE, entryCost, zoneCapacity } from "./zone-capacity.js";

/** Who holds slots: a worker's pid; LOCAL_HOLDER for the process that owns the zones. */
export type Holder = number;
export const LOCAL_HOLDER: Holder = 0;

/** A limit_conn zone: connections held per key (nginx's ngx_http_limit_conn_node_t.conn). */
class ConnZone {
  readonly kind = "limit_conn";
  private readonly capacity: number;
  private used = 0;
  private readonly counts = new Map<string, number>();

  constructor(
    size: number,
    readonly key: string,
  ) {
    this.capacity = zoneCapacity(size);
  }

  take(key: string, limit: number): ConnTake {
    const count = this.counts.get(key);
    if (count === undefined) {
      const cost = entryCost(CONN_NODE, key.length);
      if (this.used + cost > this.capacity) return "full";
      this.used += cost;
      this.counts.set(key, 1);
      return "passed";
    }
    if (count >= limit) return "limited";
    this.counts.set(key, count + 1);
    return "passed";
  }

  /** ngx_http_limit_conn_cleanup(): the entry goes with its last connection. */
  give(key: string): void {
    const count = this.counts.get(key);
    if (count === undefined) return;
    if (count > 1) {
      this.counts.set(key, count - 1);
      return;
    }
    this.counts.delete(key);
    this.used -= entryCost(CONN_NODE, key.length);
  }

  /** Connections held for `key` (for tests and status pages). */
  held(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

type Zone = ConnZone | ReqZone;

/** "limit_conn\0one\01048576": what makes two declarations the same zone. */
export function zoneIdentity(zone: Pick<ZoneRef, "kind" | "name" | "size">): string {
  return `${zone.kind}\0${zone.name}\0${zone.size}`;
}

/** Monotonic milliseconds, nginx's ngx_current_msec (CLOCK_MONOTONIC on Linux, as nginx's). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export class ZoneStore {
  private readonly zones = new Map<string, Zone>();
  /** holder → zone → key → slots held. */
  private readonly holdings = new Map<Holder, Map<ConnZone, Map<string, number>>>();

  constructor(private readonly clock: () => number = monotonicMs) {}

  apply<K extends OpName>(op: OpOf<K>, holder: Holder): ZoneAnswers[K] {
    return this.run(op, holder) as ZoneAnswers[K];
  }

  private run(op: ZoneOp, holder: Holder): ZoneAnswers[OpName] {
    switch (op.op) {
      case "conn-take": {
        const zone = this.connZone(op.zone);
        const answer = zone.take(op.key, op.limit);
        if (answer === "passed") this.hold(holder, zone, op.key, 1);
        return answer;
      }
      case "conn-give": {
        const zone = this.zones.get(zoneIdentity(op.zone));
        if (zone instanceof ConnZone && this.hold(holder, zone, op.key, -1)) zone.give(op.key);
        return null;
      }
      case "req-check":
        return checkRequest(op.limits, (limit: ReqLimit) => this.reqZone(limit.zone), this.clock());
    }
  }

  /** A holder went away: every slot it held is given back. */
  releaseHolder(holder: Holder): void {
    const held = this.holdings.get(holder);
    if (held === undefined) return;
    this.holdings.delete(holder);
    for (const [zone, keys] of held) {
      for (const [key, count] of keys) for (let i = 0; i < count; i++) zone.give(key);
    }
  }

  /**
   * A configuration is about to be used: a zone of the same identity must count by the same key
   * (ngx_http_limit_*_init_zone()); nginx's message for the first that does not, else undefined.
   */
  conflict(refs: Iterable<ZoneRef>): string | undefined {
    for (const ref of refs) {
      const zone = this.zones.get(zoneIdentity(ref));
      if (zone === undefined || zone.key === ref.key) continue;
      const what = ref.kind === "limit_conn" ? "limit_conn_zone" : "limit_req";
      return `${what} "${ref.name}" uses the "${ref.key}" key while previously it used the "${zone.key}" key`;
    }
    return undefined;
  }

  /** Make the zones of a configuration now (nginx makes them when it reads it), so a reload can check their keys. */
  declare(refs: Iterable<ZoneRef>): void {
    for (const ref of refs) this.zoneFor(ref);
  }

  /** Keep only the zones of these identities (the configurations whose workers still run). */
  retain(identities: ReadonlySet<string>): void {
    for (const identity of this.zones.keys()) if (!identities.has(identity)) this.zones.delete(identity);
  }

  /** Slots held for `key` in a limit_conn zone (0 if none). */
  connHeld(ref: ZoneRef, key: string): number {
    const zone = this.zones.get(zoneIdentity(ref));
    return zone instanceof ConnZone ? zone.held(key) : 0;
  }

  /** Record `delta` slots of `holder`; false when it gives back one it does not hold. */
  private hold(holder: Holder, zone: ConnZone, key: string, delta: 1 | -1): boolean {
    let zones = this.holdings.get(holder);
    if (zones === undefined) this.holdings.set(holder, (zones = new Map()));
    let keys = zones.get(zone);
    if (keys === undefined) zones.set(zone, (keys = new Map()));
    const count = (keys.get(key) ?? 0) + delta;
    if (count < 0) return false;
    if (count === 0) keys.delete(key);
    else keys.set(key, count);
    if (keys.size === 0) zones.delete(zone);
    if (zones.size === 0) this.holdings.delete(holder);
    return true;
  }

  private connZone(ref: ZoneRef): ConnZone {
    const zone = this.zoneFor(ref);
    if (!(zone instanceof ConnZone)) throw new Error(`zone "${ref.name}" is not a limit_conn zone`);
    return zone;
  }

  private reqZone(ref: ZoneRef): ReqZone {
    const zone = this.zoneFor(ref);
    if (!(zone instanceof ReqZone)) throw new Error(`zone "${ref.name}" is not a limit_req zone`);
    return zone;
  }

  private zoneFor(ref: ZoneRef): Zone {
    const identity = zoneIdentity(ref);
    let zone = this.zones.get(identity);
    if (zone === undefined) {
      zone = ref.kind === "limit_conn" ? new ConnZone(ref.size, ref.key) : new ReqZone(ref.size, ref.key);
      this.zones.set(identity, zone);
    }
    return zone;
  }
}
