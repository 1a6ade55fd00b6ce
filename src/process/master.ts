/**
 * The master process (`master_process on`, nginx's default). It binds the
 * listening sockets and holds them for its whole life, forks
 * `worker_processes` workers (src/process/worker-process.ts) and hands each
 * of them a copy of every listening socket of its configuration; the workers
 * listen and accept for themselves, as nginx's do, and the master never
 * accepts (src/http/listen-socket.ts). It acts on the signals: TERM/INT fast
 * shutdown, QUIT graceful shutdown, HUP reload, USR1 reopen logs; it replaces
 * a worker that dies, one that crashed included (src/process/crash.ts), and
 * hands the new one the sockets.
 *
 * Reload: the new configuration is read and checked first; if bad, the error
 * is logged and nothing changes. Otherwise new listening sockets are bound,
 * new workers started with the sockets of the new configuration; once every
 * one accepts and is ready, the old workers are told to quit gracefully (they
 * stop accepting and finish what they have), and listening sockets the new
 * configuration no longer names are closed. A socket whose `listen` stays is
 * never closed: a connection arriving while no worker accepts waits in its
 * backlog, so none is refused during a reload.
 */

import { loadConfig, type LoadOptions } from "../config/load.js";
import type { Config, ListenConf } from "../config/model.js";
import { planBindings } from "../http/bindings.js";
import { bindListen, type ListenHandle } from "../http/listen-socket.js";
import { ErrorLog } from "../log/error-log.js";
import { LogFiles } from "../log/files.js";
import { uncaughtLine } from "../log/uncaught.js";
import type { FromWorker, ToWorker } from "./ipc.js";
import { removePidFile, writePidFile } from "./pidfile.js";
import { BINARY_UPGRADE, onSignals, receivedLine, signalNumber } from "./signals.js";
import { configWarnings, isRoot, logStartNotices } from "./startup-notices.js";
import { resolveIdentity } from "./user.js";
import { ZoneServer } from "./zone-server.js";
import { FigureServer } from "./figure-server.js";
import { countProcessFigures } from "./process-metrics.js";
import { NO_CONNECTIONS, ownFigures } from "../http/server-figures.js";
import {
  forkWorker,
  sendListen,
  whenReady,
  workerCount,
  workerLoad,
  type Generation,
  type Worker,
} from "./worker-process.js";

export { workerCount } from "./worker-process.js";

/** After TERM, how long workers have before they are killed. */
const FAST_STOP_MS = 5_000;

export interface MasterRunning {
  readonly exited: Promise<number>;
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
  /** The bound listening sockets, by nginx's address text; the workers get copies. */
  private readonly listeners = new Map<string, ListenHandle>();
  private readonly workers = new Set<Worker>();
  private generation: Generation;
  /** The shared zones (limit_conn, limit_req), held here for every worker. */
  private readonly zones = new ZoneServer(() => this.errorLog);
  /** The server's figures (stub_status, metrics), gathered here from every worker. */
  private readonly figures = new FigureServer(
    () => this.workers,
    () => ownFigures(NO_CONNECTIONS),
  );
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
    this.zones.declare(config);
    countProcessFigures("master");
  }

  async start(): Promise<void> {
    const config = this.generation.config;
    try {
      if (config.main.user && isRoot()) resolveIdentity(config.main.user.user, config.main.user.group);
      for (const listen of listensOf(config)) this.listeners.set(listen.text, await bindListen(listen));
      logStartNotices(config, this.errorLog, "master");
      this.errorLog.log("notice", "start worker processes");
      await this.startGeneration(this.generation);
      // Signals are handled before the pid file names this process (nginx sets its signals up first):
      // whoever reads the pid file may signal at once, and an unhandled QUIT would kill the master.
      this.handleSignals();
      writePidFile(config.main.pid);
      process.title = `wsgate: master process ${process.argv.slice(1).join(" ")}`;
    } catch (err) {
      this.removeSignals();
      process.off("uncaughtException", this.onUncaught);
      if (err instanceof Error) this.errorLog.log("emerg", err.message);
      for (const worker of this.workers) worker.child.kill("SIGKILL");
      for (const handle of this.listeners.values()) handle.close();
      this.listeners.clear();
      this.files.closeAll();
      throw err;
    }
  }

  /** QUIT, TERM, INT, HUP, USR1 as nginx's master takes them; USR2 and WINCH logged and ignored. */
  private handleSignals(): void {
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

  // Unlike a worker (src/process/crash.ts), the master logs an uncaught exception and goes on: its
  // exit would close every listening socket and, with the IPC channel, stop every worker, so one
  // bug in the master would take the whole service down; its state is the worker table and the
  // sockets, which a reload (HUP) rebuilds.
  private readonly onUncaught = (err: Error): void => this.errorLog.log("alert", uncaughtLine(err));

  /** Start the workers of `generation`; resolves when all are ready, rejects with the first failure. */
  private async startGeneration(generation: Generation): Promise<Worker[]> {
    const started: Worker[] = [];
    for (let i = 0; i < generation.count; i++) started.push(this.spawn(generation));
    try {
      await Promise.all(started.map((worker) => whenReady(worker)));
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
    const worker = forkWorker(generation, (from, message) => this.onWorkerMessage(from, message));
    this.workers.add(worker);
    // Its copies of the listening sockets: it accepts on them once its configuration is loaded.
    for (const listen of listensOf(generation.config)) {
      const handle = this.listeners.get(listen.text);
      if (handle) sendListen(worker, listen.text, handle);
    }
    this.errorLog.log("notice", `start worker process ${worker.pid}`);
    worker.child.on("error", (err: NodeJS.ErrnoException) => {
      // A message to a worker whose channel is closing (it is exiting; its exit is reaped and logged) is no fault.
      if (err.code === "EPIPE" || err.code === "ERR_IPC_CHANNEL_CLOSED") return;
      this.errorLog.log("alert", `worker process ${worker.pid}: ${err.message}`);
    });
    worker.child.once("exit", (code, signal) => this.reap(worker, code, signal));
    // Its limit_conn slots go back; "close" too, for a message read after "exit". Its counters are
    // retired once its channel has closed, so that the figures it sent as it exited are in.
    worker.child.once("close", () => {
      this.zones.release(worker);
      this.figures.retire(worker);
    });
    return worker;
  }

  private onWorkerMessage(worker: Worker, message: FromWorker): void {
    if (message.wsgate === "zone") this.zones.serve(worker, message);
    else if (message.wsgate === "figures") this.figures.serve(worker, message.id, message.own);
    else if (message.wsgate === "figures-own") this.figures.received(worker, message);
    else if (message.wsgate === "ready") worker.ready = true;
    else if (message.wsgate === "listen-again") {
      const handle = this.listeners.get(message.listen);
      if (handle && !worker.leaving) sendListen(worker, message.listen, handle);
    }
  }

  /** A worker exited: nginx's lines; replace it unless it was told to go or cannot start. */
  private reap(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker);
    this.zones.release(worker);
    this.errorLog.log("notice", receivedLine("SIGCHLD", ""));
    if (signal) this.errorLog.log("alert", `worker process ${worker.pid} exited on signal ${signalNumber(signal)}`);
    else this.errorLog.log("notice", `worker process ${worker.pid} exited with code ${code ?? 0}`);
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
    for (const handle of this.listeners.values()) handle.close();
    this.listeners.clear();
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
      const conflict = this.zones.conflict(config);
      if (conflict !== undefined) throw new Error(conflict);
      for (const warning of configWarnings(config)) this.errorLog.log("warn", warning);
      if (config.main.user && isRoot()) resolveIdentity(config.main.user.user, config.main.user.group);
      files = new LogFiles();
      const errorLog = new ErrorLog(config.main.errorLogs, files);
      for (const listen of listensOf(config)) {
        if (this.listeners.has(listen.text)) continue;
        this.listeners.set(listen.text, await bindListen(listen));
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
      // The new workers accept; the old ones stop accepting and finish what they have.
      const old = this.generation;
      this.generation = generation;
      this.zones.declare(config);
      this.zones.retain([old.config, config]);
      const quit: ToWorker = { wsgate: "quit" };
      for (const worker of this.workers) {
        if (worker.generation === generation.id) continue;
        worker.leaving = true;
        if (worker.child.connected) worker.child.send(quit);
      }
      const keep = new Set(listensOf(config).map((listen) => listen.text));
      for (const [text, handle] of this.listeners) {
        if (keep.has(text)) continue;
        handle.close();
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
