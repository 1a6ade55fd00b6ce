/**
 * The master's side of the shared zones: it holds them (src/http/zone-store.ts)
 * and carries out its workers' "zone" messages one at a time, answering each
 * with its id. What a worker holds is given back when it exits, crashed or
 * not, so its limit_conn slots do not leak. On a reload the new
 * configuration's zones are checked against those held (a kept zone must
 * count by the same key), and zones that neither the new nor the previous
 * configuration names are dropped.
 */

import type { Config } from "../config/model.js";
import { isStored, zoneRef } from "../http/zone-refs.js";
import { zoneIdentity, ZoneStore } from "../http/zone-store.js";
import type { ZoneRef } from "../http/shared-zones.js";
import type { ErrorLog } from "../log/error-log.js";
import type { FromWorker, ToWorker } from "./ipc.js";
import type { Worker } from "./worker-process.js";

export class ZoneServer {
  readonly store = new ZoneStore();
  /** Workers whose slots were given back: what they still send is given back at once. */
  private readonly gone = new WeakSet<Worker>();
  /** Each worker's holder number (not its pid, which the system may give to a later process). */
  private readonly holders = new WeakMap<Worker, number>();
  private nextHolder = 1;

  constructor(private readonly errorLog: () => ErrorLog) {}

  serve(worker: Worker, message: Extract<FromWorker, { wsgate: "zone" }>): void {
    let answer: ToWorker;
    try {
      answer = { wsgate: "zone-answer", id: message.id, answer: this.store.apply(message.op, this.holder(worker)) };
    } catch (err) {
      this.errorLog().log("alert", `zone operation failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.gone.has(worker)) this.store.releaseHolder(this.holder(worker));
    else if (message.id !== 0 && worker.child.connected) worker.child.send(answer);
  }

  /** The worker exited: its slots go back. */
  release(worker: Worker): void {
    this.gone.add(worker);
    this.store.releaseHolder(this.holder(worker));
  }

  private holder(worker: Worker): number {
    let holder = this.holders.get(worker);
    if (holder === undefined) this.holders.set(worker, (holder = this.nextHolder++));
    return holder;
  }

  /** nginx's message when `config` would reuse a zone with another key; undefined when it may be used. */
  conflict(config: Config): string | undefined {
    return this.store.conflict(refsOf(config));
  }

  /** The zones of a configuration about to be used, made now (nginx makes them as it reads the configuration). */
  declare(config: Config): void {
    this.store.declare(refsOf(config));
  }

  /** Keep the zones these configurations name (the one in force and the one being retired). */
  retain(configs: readonly Config[]): void {
    this.store.retain(new Set(configs.flatMap((config) => refsOf(config).map(zoneIdentity))));
  }
}

function refsOf(config: Config): ZoneRef[] {
  return [...config.main.sharedZones.values()].filter(isStored).map(zoneRef);
}
