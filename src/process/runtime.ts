/**
 * `master_process off`: one process serves. Open the logs, bind every
 * listening socket, then write the pid file (so a pid file always means
 * "ready"), and act on nginx's signals until told to stop.
 */

import type { Config } from "../config/model.js";
import type { ErrorLog } from "../log/error-log.js";
import type { HttpServer } from "../http/server.js";
import { removePidFile, writePidFile } from "./pidfile.js";
import { BINARY_UPGRADE, onSignals, receivedLine } from "./signals.js";
import { drainConnections, openServing, reopenLogs } from "./serving.js";
import { logStartNotices } from "./startup-notices.js";
import { exitOnUncaught } from "./crash.js";
import { countProcessFigures } from "./process-metrics.js";

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
  countProcessFigures("single");
  const serving = openServing(config);
  const { server, errorLog, files, accessLog } = serving;
  const failed = async (err: unknown): Promise<never> => {
    // nginx writes a failed start to its error log as well as to stderr.
    if (err instanceof Error) errorLog.log("emerg", err.message);
    await server?.stopListening();
    files.closeAll();
    throw err;
  };
  try {
    await server?.listen();
  } catch (err) {
    return failed(err);
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
      // Accepting stops at once; what the listeners' close waits for is waited for below, connection by connection.
      const listening = server?.stopListening();
      if (how === "fast" || !server || server.openConnections === 0) {
        server?.destroyConnections();
        await listening;
        exit();
        return;
      }
      errorLog.log("notice", "gracefully shutting down");
      await drainConnections(server, config.main);
      server.destroyConnections();
      await listening;
      exit();
    })();
  };

  // With `master_process off` there is no master to start a new process: after an uncaught exception
  // (src/process/crash.ts) the pid file is removed (a supervisor must not signal a pid that may be
  // reused) and the process exits non-zero, for its supervisor to restart, as a crashed nginx.
  const removeUncaught = exitOnUncaught(
    (line) => errorLog.log("alert", line),
    () => {
      accessLog.flush();
      removePidFile(config.main.pid);
    },
  );

  const say = (signal: NodeJS.Signals, action: string, then: () => void) => () => {
    errorLog.log("notice", receivedLine(signal, action));
    then();
  };
  const removeSignals = onSignals({
    SIGTERM: say("SIGTERM", "exiting", () => stop("fast")),
    SIGINT: say("SIGINT", "exiting", () => stop("fast")),
    SIGQUIT: say("SIGQUIT", "shutting down", () => stop("graceful")),
    SIGUSR1: say("SIGUSR1", "reopening logs", () => reopenLogs(serving)),
    SIGHUP: say("SIGHUP", "reconfiguring", () =>
      errorLog.log("alert", `reconfiguring needs "master_process on"; the configuration in force is unchanged`),
    ),
    SIGUSR2: say("SIGUSR2", "ignoring", () => errorLog.log("notice", BINARY_UPGRADE)),
    SIGWINCH: say("SIGWINCH", "ignoring", () => errorLog.log("notice", BINARY_UPGRADE)),
  });
  const removeSignalHandlers = (): void => {
    removeSignals();
    removeUncaught();
  };

  // The pid file names this process only once its signals are handled (nginx sets them up first):
  // whoever reads it may signal at once, and an unhandled QUIT would kill the process. The start
  // notices come before it, so that a reader who waits for the pid file finds them logged.
  try {
    logStartNotices(config, errorLog, "single");
    writePidFile(config.main.pid);
  } catch (err) {
    removeSignalHandlers();
    return failed(err);
  }

  return { server, errorLog, exited, stop };
}
