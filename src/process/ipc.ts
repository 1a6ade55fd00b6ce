/**
 * The messages between the master and its workers, over the IPC channel of
 * child_process.fork. The master sends each accepted connection with a "conn"
 * message carrying the socket; control messages take the place of the
 * signals nginx's master sends its workers over its channel.
 */

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
  /** Sent with the accepted socket; `listen` names its listening socket ("0.0.0.0:8020"). */
  | { readonly wsgate: "conn"; readonly id: number; readonly listen: string }
  /** Answered with "synced" once every "conn" sent before it has been acknowledged or was lost. */
  | { readonly wsgate: "sync"; readonly id: number }
  | { readonly wsgate: "quit" }
  | { readonly wsgate: "stop" }
  | { readonly wsgate: "reopen" };

export type FromWorker =
  | { readonly wsgate: "ready" }
  | { readonly wsgate: "failed"; readonly message: string }
  /** The worker has its copies of these connections (acknowledged once per tick). */
  | { readonly wsgate: "got"; readonly ids: readonly number[] }
  /** Every "conn" up to `id` not acknowledged by now never arrived. */
  | { readonly wsgate: "synced"; readonly id: number };

/** Set in a worker's environment. */
export const WORKER_MARK = "WSGATE_WORKER";

export function isWorkerProcess(): boolean {
  return process.env[WORKER_MARK] === "1";
}
