/**
 * The master's hand-off of accepted connections to workers: round-robin over
 * the ready workers of the current generation, over IPC (see README
 * "Operating wsgate" for why not the kernel or `cluster`). The master keeps
 * its copy of a connection until the worker acknowledges it, so that none is
 * lost: one sent to a worker that dies goes to another, one a worker could not
 * take (no descriptor left) is offered again, and while no worker is ready
 * connections wait here.
 */

import type { Socket } from "node:net";
import type { ErrorLog } from "../log/error-log.js";
import type { ToWorker } from "./ipc.js";
import type { InFlight, Worker } from "./worker-process.js";

/** Connections held while no worker is ready (all died at once); beyond, new ones are closed. */
const MAX_HELD = 4096;
/** How long after sending a connection the master asks whether the worker got it. */
const SYNC_AFTER_MS = 200;
/**
 * A connection a worker could not take (no descriptor left: the kernel drops
 * a passed descriptor the receiver has no room for, and Node drops the
 * message) is offered again after this long, as nginx re-enables accept()
 * 500 ms after EMFILE; meanwhile the client waits, as in nginx's backlog.
 */
const RETRY_LOST_MS = 500;

export class ConnectionRouter {
  /** Ready workers of the current generation, in turn. */
  private targets: Worker[] = [];
  private next = 0;
  private readonly held: Array<[Socket, string]> = [];
  private nextConnId = 1;
  /** Connections a worker could not take, offered again after RETRY_LOST_MS. */
  private readonly lost: InFlight[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** `errorLog()`: the master's error log in force (it changes on reload). */
  constructor(private readonly errorLog: () => ErrorLog) {}

  /** Hand a new connection to the next ready worker, or hold it until one is ready. */
  route(socket: Socket, listen: string): void {
    socket.on("error", () => undefined);
    if (this.targets.length === 0) {
      if (this.held.length < MAX_HELD && !this.stopped) this.held.push([socket, listen]);
      else socket.destroy();
      return;
    }
    const worker = this.targets[this.next++ % this.targets.length]!;
    const id = this.nextConnId++;
    const message: ToWorker = { wsgate: "conn", id, listen };
    worker.inflight.set(id, { socket, listen });
    try {
      // An error here means the worker is going away: its exit hands the connection on.
      worker.child.send(message, socket, { keepOpen: true }, () => undefined);
    } catch {
      // as above
    }
    this.syncLater(worker);
  }

  /** The workers that take connections from now on; connections held meanwhile go to them. */
  setTargets(workers: Worker[]): void {
    this.targets = workers;
    if (this.targets.length === 0) return;
    for (const [socket, listen] of this.held.splice(0)) {
      if (!socket.destroyed) this.route(socket, listen);
    }
  }

  /** The worker has its copies of these connections: close the master's. */
  acknowledged(worker: Worker, ids: readonly number[]): void {
    for (const id of ids) {
      worker.inflight.get(id)?.socket.destroy();
      worker.inflight.delete(id);
    }
  }

  /** Everything sent to `worker` up to `id` and still unacknowledged was lost on the way. */
  synced(worker: Worker, id: number): void {
    worker.syncing = false;
    let count = 0;
    for (const [connId, entry] of worker.inflight) {
      if (connId > id) continue;
      worker.inflight.delete(connId);
      count++;
      if (this.lost.length < MAX_HELD) this.lost.push(entry);
      else entry.socket.destroy();
    }
    if (count > 0) {
      this.errorLog().log(
        "crit",
        `worker process ${worker.pid} could not take ${count} connection(s): no file descriptor left, offered again in ${RETRY_LOST_MS} ms`,
      );
      this.retryTimer ??= setTimeout(() => this.retryLost(), RETRY_LOST_MS);
    }
    if (worker.inflight.size > 0) this.syncLater(worker);
  }

  /** A worker exited: the connections it never got go to another worker (or wait for one). */
  rehome(worker: Worker): void {
    const orphans = [...worker.inflight.values()];
    worker.inflight.clear();
    for (const { socket, listen } of orphans) {
      if (this.stopped || socket.destroyed) socket.destroy();
      else this.route(socket, listen);
    }
  }

  /** Shutting down: connections not handed on are closed; none are taken any more. */
  stop(): void {
    this.stopped = true;
    for (const [socket] of this.held.splice(0)) socket.destroy();
    for (const { socket } of this.lost.splice(0)) socket.destroy();
    clearTimeout(this.retryTimer);
    this.targets = [];
  }

  /** Ask the worker, a moment after a send, which of the connections sent so far it never got. */
  private syncLater(worker: Worker): void {
    if (worker.syncing) return;
    worker.syncing = true;
    setTimeout(() => {
      const message: ToWorker = { wsgate: "sync", id: this.nextConnId - 1 };
      if (worker.inflight.size === 0 || !worker.child.connected) worker.syncing = false;
      else worker.child.send(message, (err) => err && (worker.syncing = false));
    }, SYNC_AFTER_MS).unref();
  }

  private retryLost(): void {
    this.retryTimer = undefined;
    for (const { socket, listen } of this.lost.splice(0)) {
      if (this.stopped || socket.destroyed) socket.destroy();
      else this.route(socket, listen);
    }
  }
}
