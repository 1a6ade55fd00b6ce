/**
 * The master's side of the server's figures (src/http/server-figures.ts):
 * a worker that serves stub_status (or the metrics) asks with "figures"; the
 * master asks every other live worker, old generations still serving
 * included, for its own figures ("figures-ask"), waits at most
 * FIGURES_ANSWER_MS, and answers with its own process's figures, each other
 * worker's, and what exited workers counted. The asking worker adds its own,
 * read as it answers, so its figures are exact.
 *
 * Every worker also sends its figures once a second unasked, and each answer
 * is kept too: a worker that does not answer in time is counted from the last
 * it sent, and when a worker exits (crashed, killed, or retired by a reload)
 * the counters of the last it sent — accepts, handled, requests, every
 * counter and histogram — are added to the retired sum, so the server's totals
 * never go back; its gauges (connections open, memory) go with it. A worker
 * sends its figures once more as it exits, so a graceful exit loses nothing;
 * a worker killed loses what it counted since its last message (at most 1 s).
 */

import type { ProcessFigures } from "../http/server-figures.js";
import { monotonicPart, sumConnections, sumFigures } from "../http/server-figures.js";
import type { FromWorker, ToWorker } from "./ipc.js";
import type { Worker } from "./worker-process.js";

/** How long the master waits for each worker's figures. */
export const FIGURES_ANSWER_MS = 1000;

interface Gathering {
  readonly waiting: Set<Worker>;
  readonly finish: () => void;
}

export class FigureServer {
  /** Each live worker's figures, the last it sent. */
  private readonly last = new Map<Worker, ProcessFigures>();
  /** The counters of the workers that exited. */
  private retired: ProcessFigures | undefined;
  private readonly gone = new WeakSet<Worker>();
  private readonly gatherings = new Map<number, Gathering>();
  private nextId = 1;

  constructor(
    private readonly workers: () => Iterable<Worker>,
    private readonly own: () => ProcessFigures,
    private readonly answerMs = FIGURES_ANSWER_MS,
  ) {}

  /**
   * A worker's "figures" `id`: every other process's, sent back once gathered. Its own, which it
   * adds to the answer, are kept as its last known: what a worker has shown is never lost.
   */
  serve(asker: Worker, id: number, own: ProcessFigures): void {
    if (!this.gone.has(asker)) this.last.set(asker, own);
    void this.gather(asker).then((figures) => send(asker, { wsgate: "figures-answer", id, figures }));
  }

  /**
   * A worker's "figures-own": kept as its last known, and the answer to a gathering if it waits; a push
   * is answered with the other processes' connections (for its $connections_* variables).
   */
  received(worker: Worker, message: Extract<FromWorker, { wsgate: "figures-own" }>): void {
    if (this.gone.has(worker)) return;
    this.last.set(worker, message.figures);
    if (message.id === 0) {
      const connections = sumConnections(this.collect(worker).map((figures) => figures.connections));
      send(worker, { wsgate: "figures-others", connections });
    }
    const gathering = this.gatherings.get(message.id);
    if (gathering?.waiting.delete(worker) && gathering.waiting.size === 0) gathering.finish();
  }

  /** The figures of every process but `except`: the master's, the retired sum, each worker's latest. */
  gather(except?: Worker): Promise<ProcessFigures[]> {
    const asked = [...this.workers()].filter((worker) => worker !== except && worker.child.connected);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.gatherings.delete(id);
        resolve(this.collect(except));
      };
      const timer = setTimeout(finish, this.answerMs);
      this.gatherings.set(id, { waiting: new Set(asked), finish });
      for (const worker of asked) {
        if (!send(worker, { wsgate: "figures-ask", id })) this.answeredNever(worker);
      }
      if (asked.length === 0) finish();
    });
  }

  /** The worker's channel closed (it exited): its counters join the retired sum. */
  retire(worker: Worker): void {
    if (this.gone.has(worker)) return;
    this.gone.add(worker);
    const figures = this.last.get(worker);
    this.last.delete(worker);
    if (figures) this.retired = monotonicPart(sumFigures(this.retired ? [this.retired, figures] : [figures]));
    this.answeredNever(worker);
  }

  /** No answer will come from `worker`: the gatherings stop waiting for it. */
  private answeredNever(worker: Worker): void {
    for (const gathering of [...this.gatherings.values()]) {
      if (gathering.waiting.delete(worker) && gathering.waiting.size === 0) gathering.finish();
    }
  }

  private collect(except: Worker | undefined): ProcessFigures[] {
    const all = [this.own()];
    if (this.retired) all.push(this.retired);
    for (const [worker, figures] of this.last) if (worker !== except) all.push(figures);
    return all;
  }
}

function send(worker: Worker, message: ToWorker): boolean {
  if (!worker.child.connected) return false;
  try {
    worker.child.send(message);
    return true;
  } catch {
    return false;
  }
}
