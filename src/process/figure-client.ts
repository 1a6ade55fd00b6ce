/**
 * A worker's way to the server's figures (src/http/server-figures.ts): the
 * master gathers them (src/process/figure-server.ts). The worker asks with
 * "figures" and adds its own figures, read when it asked, to the master's
 * answer; it answers the master's "figures-ask" with its own, and sends them
 * unasked once a second and as it exits, so the master always has recent
 * figures of every worker, and the counters of one that exits. In return for
 * a push the master tells the other processes' connections, which this
 * worker's $connections_* variables add to its own.
 *
 * An answer that does not come within FIGURES_WAIT_MS (a master stuck, or
 * gone) leaves the worker's own figures only, with an alert in the log.
 */

import type { ErrorLog } from "../log/error-log.js";
import {
  sumConnections,
  useOtherConnections,
  type FigureGatherer,
  type ProcessFigures,
} from "../http/server-figures.js";
import type { ConnectionStats } from "../http/content-handler.js";
import type { FromWorker } from "./ipc.js";

/** How long a worker waits for the master's answer (the master waits FIGURES_ANSWER_MS for each worker). */
export const FIGURES_WAIT_MS = 2500;
/** How often a worker sends its figures unasked. */
export const FIGURES_PUSH_MS = 1000;

interface Pending {
  readonly own: ProcessFigures;
  readonly resolve: (all: readonly ProcessFigures[]) => void;
  readonly timer: NodeJS.Timeout;
}

export class FigureClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private pushing: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (message: FromWorker) => boolean,
    /** This worker's figures now. */
    private readonly own: () => ProcessFigures,
    private readonly errorLog: () => ErrorLog | undefined,
    private readonly waitMs = FIGURES_WAIT_MS,
  ) {}

  /** The gatherer for useFigureGatherer(): `own` first, then the master's answer. */
  readonly gather: FigureGatherer = (own) => {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.timedOut(id), this.waitMs);
      this.pending.set(id, { own, resolve, timer });
      if (!this.send({ wsgate: "figures", id, own })) this.timedOut(id);
    });
  };

  /** The master's "figures-answer". */
  answered(id: number, figures: readonly ProcessFigures[]): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve([pending.own, ...figures]);
    useOtherConnections(sumConnections(figures.map((f) => f.connections)));
  }

  /** The master's "figures-others", in return for a push. */
  others(connections: ConnectionStats): void {
    useOtherConnections(connections);
  }

  /** The master's "figures-ask" (id), or a push (0). */
  tell(id = 0): void {
    this.send({ wsgate: "figures-own", id, figures: this.own() });
  }

  /** Send the figures once a second from now on (the timer keeps no process alive). */
  startPushing(): void {
    this.pushing ??= setInterval(() => this.tell(), FIGURES_PUSH_MS).unref();
  }

  /** The worker exits: its last figures go to the master, and no more. */
  stop(): void {
    clearInterval(this.pushing);
    this.tell();
  }

  private timedOut(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    this.errorLog()?.log(
      "alert",
      `the master process did not answer within ${this.waitMs}ms for the server's figures; this worker's only are shown`,
    );
    pending.resolve([pending.own]);
  }
}
