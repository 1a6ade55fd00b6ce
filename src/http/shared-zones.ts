/**
 * How a request reaches nginx's shared memory zones (limit_conn, limit_req)
 * whichever process holds them. nginx's workers share the zones' memory;
 * Node's processes cannot, so one process owns every zone (the master, or the only process with
 * `master_process off`) and the others ask it: each operation is one message
 * that the owner carries out whole (zone-store.ts), so an operation is as
 * exact as nginx's under its zone mutex. The owner's answer comes now (the
 * zones are in this process) or later (a Promise: the worker's IPC client,
 * src/process/zone-client.ts). A check keeps a synchronous answer synchronous.
 *
 * The zones live in the owner by identity (use, name, size), so a reload that
 * keeps a zone's name and size keeps its contents, as nginx reuses a zone.
 * Nothing here depends on how connections reach a worker.
 *
 * Another use of state the master holds adds its operations to ZoneOp, its
 * answers to ZoneAnswers and its state to zone-store.ts; an operation that
 * awaits nothing (as "conn-give") costs one message and no round trip, and
 * frequent ones may be gathered per tick before sending. The summed counters
 * and the upstream peers' state are the workers' own, not the master's: they
 * go over the same channel the other way, the master asking every worker
 * (server-figures.ts, src/process/figure-server.ts).
 */

import type { ZoneKind } from "../config/modules/shared-zones.js";
import { LOCAL_HOLDER, ZoneStore } from "./zone-store.js";

/** The uses whose zones the store holds (an upstream's `zone` is accepted and kept per worker). */
export type StoredKind = Exclude<ZoneKind, "upstream">;

/** A zone as an operation names it: enough for the owner to find it, or make it on first use. */
export interface ZoneRef {
  readonly kind: StoredKind;
  readonly name: string;
  readonly size: number;
  /** The key's text in the configuration ("$binary_remote_addr"), checked across reloads. */
  readonly key: string;
}

/** One limit_req of a location, with the request's key (null: empty or too long, skipped). */
export interface ReqLimit {
  readonly zone: ZoneRef;
  readonly key: string | null;
  /** The zone's rate, in 1/1000 requests a second (ctx->rate belongs to the configuration, not the zone). */
  readonly rate: number;
  readonly burst: number;
  readonly delay: number;
}

export type ZoneOp =
  /** limit_conn: take a slot for `key` if fewer than `limit` are held. */
  | { readonly op: "conn-take"; readonly zone: ZoneRef; readonly key: string; readonly limit: number }
  /** limit_conn: give a slot back (the request ended). No answer is awaited. */
  | { readonly op: "conn-give"; readonly zone: ZoneRef; readonly key: string }
  /** limit_req: every limit of the location looked up and accounted at once (ngx_http_limit_req_handler). */
  | { readonly op: "req-check"; readonly limits: readonly ReqLimit[] };

/** "full": the zone has no room for another key (nginx's failed slab allocation). */
export type ConnTake = "passed" | "limited" | "full";

export interface ReqCheck {
  /** "declined": every key empty; "ok": counted (with a delay, maybe); "busy": over the burst; "error": zone full. */
  readonly rc: "declined" | "ok" | "busy" | "error";
  /** The excess to log, in 1/1000 requests. */
  readonly excess: number;
  /** The limit whose zone is named in the log line. */
  readonly index: number;
  /** How long the request waits, in ms (0: none). */
  readonly delay: number;
}

export interface ZoneAnswers {
  "conn-take": ConnTake;
  "conn-give": null;
  "req-check": ReqCheck;
}

export type OpName = ZoneOp["op"];
export type OpOf<K extends OpName> = Extract<ZoneOp, { op: K }>;

/** Where operations on the zones go. */
export interface SharedZones {
  apply<K extends OpName>(op: OpOf<K>): ZoneAnswers[K] | Promise<ZoneAnswers[K]>;
}

/** The owner could not be reached in time: nginx's nearest case is a zone that cannot serve, which refuses. */
export class ZoneUnavailable extends Error {}

let current: SharedZones | undefined;

/** The zones this process uses: set by the process layer at start; else the zones held in this process. */
export function sharedZones(): SharedZones {
  return (current ??= localZones(new ZoneStore()));
}

/** Set by the process layer: the IPC client in a worker, the in-process store otherwise. */
export function useSharedZones(zones: SharedZones): void {
  current = zones;
}

/** The process that holds the zones itself (`master_process off`): answers at once. */
export function localZones(store: ZoneStore): SharedZones {
  return { apply: (op) => store.apply(op, LOCAL_HOLDER) };
}
