/**
 * A worker process as the master sees it: forked with child_process.fork,
 * given its configuration (a "start" message), ready once it says so. The
 * record the master keeps of each worker, and of each generation of workers
 * (one per configuration loaded).
 */

import { fork, type ChildProcess, type SendHandle } from "node:child_process";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import type { ListenHandle } from "../http/listen-socket.js";
import { SystemError } from "../core/errors.js";
import type { LoadOptions } from "../config/load.js";
import type { Config } from "../config/model.js";
import { withMallocTrim } from "./malloc-env.js";
import { WORKER_MARK, type FromWorker, type ToWorker, type WorkerLoad } from "./ipc.js";

/** How long a new worker may take to load its configuration and say "ready". */
const WORKER_START_MS = 30_000;

export interface Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly generation: number;
  ready: boolean;
  /** Told to quit or stop: is not replaced. */
  leaving: boolean;
}

/** The workers of one configuration. */
export interface Generation {
  readonly id: number;
  readonly config: Config;
  readonly load: WorkerLoad;
  readonly count: number;
}

export function workerCount(config: Config): number {
  const n = config.main.workerProcesses;
  return n === "auto" ? availableParallelism() : n;
}

/** What a worker of `config` is told to load. */
export function workerLoad(config: Config, options: LoadOptions): WorkerLoad {
  return {
    prefix: options.prefix,
    confFile: options.confFile,
    ...(options.globals !== undefined ? { globals: options.globals } : {}),
    ...(options.defaultErrorLog !== undefined ? { defaultErrorLog: options.defaultErrorLog } : {}),
    sources: config.files.map((file) => [file.path, file.text] as const),
    // One set of TLS ticket keys per generation: a session resumes on any of its workers, as in nginx.
    ticketKeys: randomBytes(48).toString("hex"),
  };
}

/** Fork a worker of `generation` and send it its configuration; `onMessage` gets what it says. */
export function forkWorker(generation: Generation, onMessage: (worker: Worker, message: FromWorker) => void): Worker {
  const env: NodeJS.ProcessEnv = withMallocTrim({ ...process.env, [WORKER_MARK]: "1" });
  delete env["WSGATE_DAEMON_CHILD"];
  const child = fork(process.argv[1]!, [], {
    env,
    execArgv: process.execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const worker: Worker = {
    child,
    pid: child.pid ?? 0,
    generation: generation.id,
    ready: false,
    leaving: false,
  };
  child.on("message", (message: FromWorker) => onMessage(worker, message));
  const start: ToWorker = { wsgate: "start", load: generation.load };
  child.send(start);
  return worker;
}

/**
 * Send the worker its copy of the listening socket `listen` (a raw libuv
 * handle travels as child_process's "net.Native": the master's stays open).
 * A worker that is going away never gets it; its exit is reaped as usual.
 */
export function sendListen(worker: Worker, listen: string, handle: ListenHandle): void {
  if (!worker.child.connected) return;
  const message: ToWorker = { wsgate: "listen", listen };
  worker.child.send(message, handle as unknown as SendHandle, () => undefined);
}

/** Resolves when the worker says "ready"; rejects when it fails, exits or takes too long. */
export function whenReady(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`worker process ${worker.pid} did not start within ${WORKER_START_MS / 1000}s`));
    }, WORKER_START_MS);
    const onMessage = (message: FromWorker): void => {
      if (message.wsgate === "ready") {
        cleanup();
        resolve();
      } else if (message.wsgate === "failed") {
        cleanup();
        reject(new SystemError(message.message));
      }
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(`worker process ${worker.pid} exited before it was ready`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      worker.child.off("message", onMessage);
      worker.child.off("exit", onExit);
    };
    worker.child.on("message", onMessage);
    worker.child.once("exit", onExit);
  });
}
