/**
 * The messages between the master and its workers, over the IPC channel of
 * child_process.fork. The master sends each worker its copy of every
 * listening socket with a "listen" message carrying the socket; the worker
 * accepts on it itself. Control messages take the place of the signals
 * nginx's master sends its workers over its channel. Operations on
 * the shared zones (src/http/shared-zones.ts) go to the master, which holds
 * them, as "zone" messages; those that await an answer carry an id (0: none).
 * The server's figures (stub_status, metrics) are gathered the same way: a
 * worker asks with "figures", the master asks every worker with
 * "figures-ask" and answers with everyone's ("figures-answer"); each worker
 * also sends its own once a second unasked ("figures-own" with id 0), and is
 * told the other processes' connections in return ("figures-others").
 */

import type { ConnectionStats } from "../http/content-handler.js";
import type { ProcessFigures } from "../http/server-figures.js";
import type { OpName, ZoneAnswers, ZoneOp } from "../http/shared-zones.js";

/** How a worker loads the configuration its master checked: the same options, the texts the master read. */
export interface WorkerLoad {
  readonly prefix: string;
  readonly confFile: string;
  readonly globals?: string;
  readonly defaultErrorLog?: string;
  /** [path, text] of every file the master read. */
  readonly sources: ReadonlyArray<readonly [string, string]>;
  /** TLS session-ticket keys shared by the generation's workers (hex). */
  readonly ticketKeys?: string;
}

export type ToWorker =
  | { readonly wsgate: "start"; readonly load: WorkerLoad }
  /** Sent with a bound listening socket; `listen` names it ("0.0.0.0:8020"). */
  | { readonly wsgate: "listen"; readonly listen: string }
  | { readonly wsgate: "quit" }
  | { readonly wsgate: "stop" }
  | { readonly wsgate: "reopen" }
  /** The master's answer to the "zone" operation `id`. */
  | { readonly wsgate: "zone-answer"; readonly id: number; readonly answer: ZoneAnswers[OpName] }
  /** The master wants this worker's own figures, for its gathering `id`. */
  | { readonly wsgate: "figures-ask"; readonly id: number }
  /** The master's answer to the worker's "figures" `id`: every other process's figures. */
  | { readonly wsgate: "figures-answer"; readonly id: number; readonly figures: readonly ProcessFigures[] }
  /** The answer to a worker's push: the other processes' connections, summed ($connections_*). */
  | { readonly wsgate: "figures-others"; readonly connections: ConnectionStats };

export type FromWorker =
  | { readonly wsgate: "ready" }
  | { readonly wsgate: "failed"; readonly message: string }
  /** The worker closed its copy of this listening socket to pause accepting (out of descriptors): it wants it again. */
  | { readonly wsgate: "listen-again"; readonly listen: string }
  /** An operation on the shared zones; answered with "zone-answer" unless `id` is 0. */
  | { readonly wsgate: "zone"; readonly id: number; readonly op: ZoneOp }
  /** The worker wants the server's figures (`own`: its own now); answered with "figures-answer". */
  | { readonly wsgate: "figures"; readonly id: number; readonly own: ProcessFigures }
  /** The worker's own figures: the answer to "figures-ask" `id`, or (id 0) its push once a second. */
  | { readonly wsgate: "figures-own"; readonly id: number; readonly figures: ProcessFigures };

/** Set in a worker's environment. */
export const WORKER_MARK = "WSGATE_WORKER";

export function isWorkerProcess(): boolean {
  return process.env[WORKER_MARK] === "1";
}
