/**
 * A worker's way to the shared zones, which its master holds
 * (src/http/shared-zones.ts): each operation is a "zone" message with an id,
 * answered by a "zone-answer" with the same id, in order, exactly once.
 *
 * An answer that does not come within ZONE_ANSWER_MS (a master stuck, or
 * gone) fails the operation with ZoneUnavailable, and the limits refuse the
 * request — nginx's nearest case is a zone that cannot serve (no room for an
 * entry), where both modules refuse with their status. A slot the master
 * granted after the worker stopped waiting is given back when its answer
 * arrives, so a late answer leaks nothing.
 */

import type { ErrorLog } from "../log/error-log.js";
import {
  ZoneUnavailable,
  type OpName,
  type OpOf,
  type SharedZones,
  type ZoneAnswers,
  type ZoneOp,
} from "../http/shared-zones.js";
import type { FromWorker } from "./ipc.js";

/** How long a worker waits for its master's answer. */
export const ZONE_ANSWER_MS = 3000;

interface Pending {
  readonly op: ZoneOp;
  readonly resolve: (answer: ZoneAnswers[OpName]) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class ZoneClient implements SharedZones {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Operations given up on, whose answer may still come. */
  private readonly abandoned = new Map<number, ZoneOp>();

  constructor(
    private readonly send: (message: FromWorker) => boolean,
    private readonly errorLog: () => ErrorLog | undefined,
    private readonly answerMs = ZONE_ANSWER_MS,
  ) {}

  apply<K extends OpName>(op: OpOf<K>): ZoneAnswers[K] | Promise<ZoneAnswers[K]> {
    if (op.op === "conn-give") {
      this.send({ wsgate: "zone", id: 0, op });
      return null as ZoneAnswers[K];
    }
    const id = this.nextId++;
    return new Promise<ZoneAnswers[K]>((resolve, reject) => {
      const timer = setTimeout(() => this.timedOut(id), this.answerMs);
      this.pending.set(id, { op, resolve: resolve as Pending["resolve"], reject, timer });
      if (!this.send({ wsgate: "zone", id, op })) this.timedOut(id);
    });
  }

  /** The master's "zone-answer". */
  answered(id: number, answer: ZoneAnswers[OpName]): void {
    const pending = this.pending.get(id);
    if (pending === undefined) {
      const op = this.abandoned.get(id);
      this.abandoned.delete(id);
      if (op?.op === "conn-take" && answer === "passed") {
        this.send({ wsgate: "zone", id: 0, op: { op: "conn-give", zone: op.zone, key: op.key } });
      }
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(answer);
  }

  private timedOut(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    this.abandoned.set(id, pending.op);
    const zones = pending.op.op === "req-check" ? pending.op.limits.map((l) => l.zone.name) : [pending.op.zone.name];
    const names = zones.map((name) => `"${name}"`).join(", ");
    this.errorLog()?.log("alert", `the master process did not answer within ${this.answerMs}ms for zone ${names}`);
    pending.reject(new ZoneUnavailable());
  }
}
