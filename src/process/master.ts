/**
 * The master process (`master_process on`, nginx's default). It holds the
 * listening sockets for its whole life, forks `worker_processes` workers with
 * child_process.fork, and hands each accepted connection to the next ready
 * worker of the current generation in turn (round-robin over IPC; see
 * README "Operating wsgate" for why not the kernel or `cluster`). It acts on
 * the signals: TERM/INT fast shutdown, QUIT graceful shutdown, HUP reload,
 * USR1 reopen logs; it replaces a worker that dies.
 *
 * Reload: the new configuration is read and checked first; if bad, the error
 * is logged and nothing changes. Otherwise new listening sockets are opened,
 * new workers started; once every one is ready, connections go to them only,
 * the old workers are told to quit gracefully, and listening sockets the new
 * configuration no longer names are closed. A socket whose `listen` stays is
 * never closed, so no connection attempt is refused during a reload.
 */

import { fork, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { ConfigError, systemErrorText } from "../config/errors.js";
import { loadConfig, type LoadOptions } from "../config/load.js";
import type { Config, ListenConf } from "../config/model.js";
import { planBindings } from "../http/bindings.js";
import { ListenError } from "../http/server.js";
import { ErrorLog } from "../log/error-log.js";
import { LogFiles } from "../log/files.js";
import { withMallocTrim } from "./malloc-env.js";
import { WORKER_MARK, type FromWorker, type ToWorker, type WorkerLoad } from "./ipc.js";
import { removePidFile, writePidFile } from "./pidfile.js";
import { onSignals, receivedLine, signalNumber } from "./signals.js";
import { configWarnings, isRoot, logStartNotices } from "./startup-notices.js";
import { resolveIdentity } from "./user.js";
import { BINARY_UPGRADE } from "./runtime.js";

/** How long a new worker may take to load its configuration and say "ready". */
const WORKER_START_MS = 30_000;
/** After TERM, how long workers have before they are killed. */
const FAST_STOP_MS = 5_000;
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

interface InFlight {
  readonly socket: Socket;
  readonly listen: string;
}

interface Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly generation: number;
  ready: boolean;
  /** Told to quit or stop: gets no connections, is not replaced. */
  leaving: boolean;
  /**
   * Connections sent and not yet acknowledged, oldest first. The master keeps
   * its copy of each until the worker says it has it; should the worker die
   * first, the connection goes to another worker instead of being lost.
   */
  readonly inflight: Map<number, InFlight>;
  /** A "sync" is due or awaited. */
  syncing: boolean;
}

interface Generation {
  readonly id: number;
  readonly config: Config;
  readonly load: WorkerLoad;
  readonly count: number;
}

export interface MasterRunning {
  readonly exited: Promise<number>;
}

export function workerCount(config: Config): number {
  const n = config.main.workerProcesses;
  return n === "auto" ? availableParallelism() : n;
}

/** Start the master: bind, start the workers, write the pid file; throws nginx's message when it cannot. */
export async function startMaster(config: Config, options: LoadOptions): Promise<MasterRunning> {
  const master = new Master(config, options);
  await master.start();
  return { exited: master.exited };
}

class Master {
  private files = new LogFiles();
  private errorLog: ErrorLog;
  private readonly listeners = new Map<string, Server>();
  private readonly workers = new Set<Worker>();
  private generation: Generation;
  /** Ready workers of the current generation, in turn. */
  private targets: Worker[] = [];
  private next = 0;
  private readonly held: Array<[Socket, string]> = [];
  private nextConnId = 1;
  /** Connections a worker could not take, offered again after RETRY_LOST_MS. */
  private readonly lost: InFlight[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private stopping: "graceful" | "fast" | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private removeSignals: () => void = () => undefined;
  private resolveExit: (code: number) => void = () => undefined;
  readonly exited = new Promise<number>((resolve) => (this.resolveExit = resolve));

  constructor(
    config: Config,
    private readonly options: LoadOptions,
  ) {
    this.errorLog = new ErrorLog(config.main.errorLogs, this.files);
    this.generation = { id: 1, config, load: workerLoad(config, options), count: workerCount(config) };
  }

  async start(): Promise<void> {
    const config = this.generation.config;
    try {
      if (config.main.user && isRoot()) resolveIdentity(config.main.user.user, config.main.user.group);
      for (const listen of listensOf(config)) this.listeners.set(listen.text, await this.bind(listen));
      logStartNotices(config, this.errorLog, "master");
      this.errorLog.log("notice", "start worker processes");
      await this.startGeneration(this.generation);
      writePidFile(config.main.pid);
      process.title = `wsgate: master process ${process.argv.slice(1).join(" ")}`;
    } catch (err) {
      if (err instanceof Error) this.errorLog.log("emerg", err.message);
      for (const worker of this.workers) worker.child.kill("SIGKILL");
      for (const server of this.listeners.values()) server.close();
      this.files.closeAll();
      throw err;
    }
    process.on("uncaughtException", this.onUncaught);
    const say = (signal: NodeJS.Signals, action: string, then: () => void) => () => {
      this.errorLog.log("notice", receivedLine(signal, action));
      then();
    };
    this.removeSignals = onSignals({
      SIGTERM: say("SIGTERM", "exiting", () => this.stop("fast")),
      SIGINT: say("SIGINT", "exiting", () => this.stop("fast")),
      SIGQUIT: say("SIGQUIT", "shutting down", () => this.stop("graceful")),
      SIGHUP: say("SIGHUP", "reconfiguring", () => {
        this.reloading = this.reloading.then(() => this.reload());
      }),
      SIGUSR1: say("SIGUSR1", "reopening logs", () => this.reopen()),
      SIGUSR2: say("SIGUSR2", "ignoring", () => this.errorLog.log("notice", BINARY_UPGRADE)),
      SIGWINCH: say("SIGWINCH", "ignoring", () => this.errorLog.log("notice", BINARY_UPGRADE)),
    });
  }

  private readonly onUncaught = (err: Error): void =>
    this.errorLog.log("alert", `uncaught exception: ${err.stack ?? String(err)}`);

  /** Open one listening socket; its connections are handed to the workers. Fails with nginx's bind() message. */
  private bind(listen: ListenConf): Promise<Server> {
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.route(socket, listen.text));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new ListenError(`bind() to ${listen.text} failed (${systemErrorText(err)})`));
      };
      server.once("error", onError);
      const host = listen.host === "" ? "0.0.0.0" : listen.host;
      server.listen({ host, port: listen.port, backlog: listen.backlog, ipv6Only: listen.ipv6only }, () => {
        server.off("error", onError);
        server.on("error", (err) => this.errorLog.log("alert", `accept() failed (${systemErrorText(err)})`));
        resolve(server);
      });
    });
  }

  /** Hand a new connection to the next ready worker, or hold it until one is ready. */
  private route(socket: Socket, listen: string): void {
    socket.on("error", () => undefined);
    if (this.targets.length === 0) {
      if (this.held.length < MAX_HELD && !this.stopping) this.held.push([socket, listen]);
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

  /** The worker has its copies of these connections: close the master's. */
  private acknowledged(worker: Worker, ids: readonly number[]): void {
    for (const id of ids) {
      worker.inflight.get(id)?.socket.destroy();
      worker.inflight.delete(id);
    }
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

  /** Everything sent to `worker` up to `id` and still unacknowledged was lost on the way. */
  private synced(worker: Worker, id: number): void {
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
      this.errorLog.log(
        "crit",
        `worker process ${worker.pid} could not take ${count} connection(s): no file descriptor left, offered again in ${RETRY_LOST_MS} ms`,
      );
      this.retryTimer ??= setTimeout(() => this.retryLost(), RETRY_LOST_MS);
    }
    if (worker.inflight.size > 0) this.syncLater(worker);
  }

  private retryLost(): void {
    this.retryTimer = undefined;
    for (const { socket, listen } of this.lost.splice(0)) {
      if (this.stopping || socket.destroyed) socket.destroy();
      else this.route(socket, listen);
    }
  }

  private retarget(): void {
    this.targets = [...this.workers].filter((w) => w.ready && !w.leaving && w.generation === this.generation.id);
    if (this.targets.length === 0) return;
    for (const [socket, listen] of this.held.splice(0)) {
      if (!socket.destroyed) this.route(socket, listen);
    }
  }

  /** Start the workers of `generation`; resolves when all are ready, rejects with the first failure. */
  private async startGeneration(generation: Generation): Promise<Worker[]> {
    const started: Worker[] = [];
    for (let i = 0; i < generation.count; i++) started.push(this.spawn(generation));
    try {
      await Promise.all(started.map((worker) => this.whenReady(worker)));
    } catch (err) {
      for (const worker of started) {
        worker.leaving = true;
        worker.child.kill("SIGKILL");
      }
      throw err;
    }
    return started;
  }

  private spawn(generation: Generation): Worker {
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
      inflight: new Map(),
      syncing: false,
    };
    this.workers.add(worker);
    this.errorLog.log("notice", `start worker process ${worker.pid}`);
    child.on("error", (err) => this.errorLog.log("alert", `worker process ${worker.pid}: ${err.message}`));
    child.on("message", (message: FromWorker) => {
      if (message.wsgate === "got") this.acknowledged(worker, message.ids);
      else if (message.wsgate === "synced") this.synced(worker, message.id);
      else if (message.wsgate === "ready") {
        worker.ready = true;
        this.retarget();
      }
    });
    child.once("exit", (code, signal) => this.reap(worker, code, signal));
    const start: ToWorker = { wsgate: "start", load: generation.load };
    child.send(start);
    return worker;
  }

  private whenReady(worker: Worker): Promise<void> {
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
          reject(new ConfigError("include", message.message));
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

  /** A worker exited: nginx's lines; replace it unless it was told to go or cannot start. */
  private reap(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker);
    this.errorLog.log("notice", receivedLine("SIGCHLD", ""));
    if (signal) this.errorLog.log("alert", `worker process ${worker.pid} exited on signal ${signalNumber(signal)}`);
    else this.errorLog.log("notice", `worker process ${worker.pid} exited with code ${code ?? 0}`);
    this.retarget();
    // Connections it never got go to another worker (or wait for one).
    const orphans = [...worker.inflight.values()];
    worker.inflight.clear();
    for (const { socket, listen } of orphans) {
      if (this.stopping || socket.destroyed) socket.destroy();
      else this.route(socket, listen);
    }
    if (this.stopping) {
      if (this.workers.size === 0) this.exit();
      return;
    }
    if (worker.leaving || !worker.ready || worker.generation !== this.generation.id) return;
    if (code === 2) {
      this.errorLog.log("alert", `worker process ${worker.pid} exited with fatal code 2 and cannot be respawned`);
      return;
    }
    this.spawn(this.generation);
  }

  private stop(how: "graceful" | "fast"): void {
    if (this.stopping === "fast" || this.stopping === how) return;
    this.stopping = how;
    for (const server of this.listeners.values()) server.close();
    this.listeners.clear();
    for (const [socket] of this.held.splice(0)) socket.destroy();
    for (const { socket } of this.lost.splice(0)) socket.destroy();
    clearTimeout(this.retryTimer);
    this.targets = [];
    const message: ToWorker = { wsgate: how === "fast" ? "stop" : "quit" };
    for (const worker of this.workers) {
      worker.leaving = true;
      if (worker.child.connected) worker.child.send(message);
    }
    if (how === "fast") {
      setTimeout(() => {
        for (const worker of this.workers) worker.child.kill("SIGKILL");
      }, FAST_STOP_MS).unref();
    }
    if (this.workers.size === 0) this.exit();
  }

  private exited_ = false;

  private exit(): void {
    if (this.exited_) return;
    this.exited_ = true;
    removePidFile(this.generation.config.main.pid);
    this.errorLog.log("notice", "exit");
    this.files.closeAll();
    this.removeSignals();
    process.off("uncaughtException", this.onUncaught);
    this.resolveExit(0);
  }

  private reopen(): void {
    this.errorLog.log("notice", "reopening logs");
    for (const failure of this.files.reopen()) this.errorLog.log("alert", failure.error);
    const message: ToWorker = { wsgate: "reopen" };
    for (const worker of this.workers) if (worker.child.connected) worker.child.send(message);
  }

  /** HUP: check the new configuration, start its workers, retire the old ones; on any failure keep the old. */
  private async reload(): Promise<void> {
    if (this.stopping) return;
    this.errorLog.log("notice", "reconfiguring");
    let config: Config;
    let files: LogFiles | undefined;
    const opened: string[] = [];
    try {
      config = await loadConfig(this.options);
      for (const warning of configWarnings(config)) this.errorLog.log("warn", warning);
      if (config.main.user && isRoot()) resolveIdentity(config.main.user.user, config.main.user.group);
      files = new LogFiles();
      const errorLog = new ErrorLog(config.main.errorLogs, files);
      for (const listen of listensOf(config)) {
        if (this.listeners.has(listen.text)) continue;
        this.listeners.set(listen.text, await this.bind(listen));
        opened.push(listen.text);
      }
      const generation: Generation = {
        id: this.generation.id + 1,
        config,
        load: workerLoad(config, this.options),
        count: workerCount(config),
      };
      this.errorLog.log("notice", "start worker processes");
      await this.startGeneration(generation);
      if (this.stopping) return;
      // The new workers take every new connection from now on; the old ones finish what they have.
      const old = this.generation;
      this.generation = generation;
      this.retarget();
      const quit: ToWorker = { wsgate: "quit" };
      for (const worker of this.workers) {
        if (worker.generation === generation.id) continue;
        worker.leaving = true;
        if (worker.child.connected) worker.child.send(quit);
      }
      const keep = new Set(listensOf(config).map((listen) => listen.text));
      for (const [text, server] of this.listeners) {
        if (keep.has(text)) continue;
        server.close();
        this.listeners.delete(text);
      }
      if (old.config.main.pid !== config.main.pid) {
        writePidFile(config.main.pid);
        removePidFile(old.config.main.pid);
      }
      this.files.closeAll();
      this.files = files;
      this.errorLog = errorLog;
    } catch (err) {
      // nginx's message for what failed; the running configuration and workers stay.
      this.errorLog.log("emerg", err instanceof Error ? err.message : String(err));
      files?.closeAll();
      for (const text of opened) {
        this.listeners.get(text)?.close();
        this.listeners.delete(text);
      }
    }
  }
}

function listensOf(config: Config): ListenConf[] {
  return config.http ? planBindings(config.http).map((binding) => binding.listen) : [];
}

function workerLoad(config: Config, options: LoadOptions): WorkerLoad {
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
