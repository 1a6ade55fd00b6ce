/**
 * Running a loaded configuration in this process: open the logs, bind every
 * listening socket, then write the pid file (so a pid file always means
 * "ready"), and act on nginx's signals until told to stop.
 */

import type { Config, LocConf, LocationConf } from "../config/model.js";
import { AccessLog } from "../log/access-log.js";
import { ErrorLog, ErrorLogs } from "../log/error-log.js";
import { LogFiles } from "../log/files.js";
import { HttpServer } from "../http/server.js";
import { removePidFile, writePidFile } from "./pidfile.js";
import { SIGNAL_NUMBER } from "./signals.js";

export interface Running {
  readonly server: HttpServer | undefined;
  readonly errorLog: ErrorLog;
  /** Resolves with the exit code once the process has shut down. */
  readonly exited: Promise<number>;
  /** As the signals do: "fast" (TERM/INT), "graceful" (QUIT). */
  stop(how: "fast" | "graceful"): void;
}

/** Start serving; throws (with nginx's message) when a log, socket or pid file cannot be opened. */
export async function startRuntime(config: Config): Promise<Running> {
  const files = new LogFiles();
  const errorLog = new ErrorLog(config.main.errorLogs, files);
  const errorLogs = new ErrorLogs(errorLog, files);
  const accessLog = new AccessLog(files);
  let server: HttpServer | undefined;
  try {
    if (config.http) {
      for (const loc of everyLocConf(config)) {
        accessLog.openAll(loc.accessLogs === "off" ? [] : loc.accessLogs);
        errorLogs.forLocation(loc);
      }
      server = new HttpServer(config.http, errorLogs, accessLog);
      await server.listen();
    }
    writePidFile(config.main.pid);
    if (config.main.workerProcesses !== 1) {
      errorLog.log(
        "notice",
        `worker_processes ${config.main.workerProcesses}: wsgate serves from this one process until its worker model lands`,
      );
    }
  } catch (err) {
    // nginx writes a failed start to its error log as well as to stderr.
    if (err instanceof Error) errorLog.log("emerg", err.message);
    await server?.stopListening();
    files.closeAll();
    throw err;
  }

  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  let stopping = false;

  const exit = (): void => {
    accessLog.flush();
    removePidFile(config.main.pid);
    errorLog.log("notice", "exit");
    files.closeAll();
    removeSignalHandlers();
    resolveExit(0);
  };

  const stop = (how: "fast" | "graceful"): void => {
    if (stopping && how === "graceful") return;
    stopping = true;
    void (async () => {
      await server?.stopListening();
      if (how === "fast" || !server || server.openConnections === 0) {
        server?.destroyConnections();
        exit();
        return;
      }
      errorLog.log("notice", "gracefully shutting down");
      server.closeIdleConnections();
      await waitForConnections(server, config.main.workerShutdownTimeoutMs);
      server.destroyConnections();
      exit();
    })();
  };

  // A bug must cost one connection, not the process: log it as nginx logs a worker's crash, and go on.
  const onUncaught = (err: Error): void => errorLog.log("alert", `uncaught exception: ${err.stack ?? String(err)}`);
  process.on("uncaughtException", onUncaught);

  const reopenLogs = (): void => {
    accessLog.flush();
    errorLog.log("notice", "reopening logs");
    for (const failure of files.reopen()) errorLog.log("alert", failure.error);
  };
  // nginx's words after "signal N (NAME) received" (it adds "from PID", which Node cannot see).
  const actions: Array<[NodeJS.Signals, string, () => void]> = [
    ["SIGTERM", "exiting", () => stop("fast")],
    ["SIGINT", "exiting", () => stop("fast")],
    ["SIGQUIT", "shutting down", () => stop("graceful")],
    ["SIGUSR1", "reopening logs", reopenLogs],
    [
      "SIGHUP",
      "reconfiguring",
      () =>
        errorLog.log("alert", "reconfiguring is not supported by wsgate yet; the configuration in force is unchanged"),
    ],
  ];
  const handlers = actions.map(([signal, words, action]): [NodeJS.Signals, () => void] => [
    signal,
    () => {
      errorLog.log("notice", `signal ${SIGNAL_NUMBER[signal] ?? 0} (${signal}) received, ${words}`);
      action();
    },
  ]);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const removeSignalHandlers = (): void => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    process.off("uncaughtException", onUncaught);
  };

  return { server, errorLog, exited, stop };
}

/** Wait for the open connections (requests, tunnels) to end; at most `limitMs` (worker_shutdown_timeout) when set. */
async function waitForConnections(server: HttpServer, limitMs: number | undefined): Promise<void> {
  if (limitMs === undefined) return server.whenIdle();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, limitMs)));
  await Promise.race([server.whenIdle(), limit]);
  clearTimeout(timer);
}

function* everyLocConf(config: Config): Generator<LocConf> {
  const walk = function* (locations: readonly LocationConf[]): Generator<LocConf> {
    for (const location of locations) {
      yield location.loc;
      yield* walk(location.locations);
    }
  };
  if (config.http) yield config.http.loc;
  for (const server of config.http?.servers ?? []) {
    yield server.loc;
    yield* walk(server.locations);
  }
}
