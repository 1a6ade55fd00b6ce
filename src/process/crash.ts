/**
 * An uncaught exception: a throw that no connection's guard caught
 * (connection.ts closes just the connection whose handler threw). The process
 * is then in a state nobody can vouch for, so it ends, as an nginx worker that
 * crashes: a worker is replaced by its master (master.ts), a single process
 * (`master_process off`) is left to its supervisor. The master itself does not
 * use this (see master.ts).
 */

import { uncaughtLine } from "../log/uncaught.js";

/** The exit code of a process that crashed: not nginx's fatal 2, so the master starts another worker. */
export const EXIT_CRASHED = 1;

/**
 * Install the handler: `alert` logs the line, `beforeExit` saves what must not be lost (buffered
 * access-log lines, the pid file); then the process exits. Returns the uninstaller.
 */
export function exitOnUncaught(alert: (line: string) => void, beforeExit: () => void): () => void {
  const onUncaught = (err: unknown): void => {
    try {
      alert(uncaughtLine(err));
      beforeExit();
    } finally {
      process.exit(EXIT_CRASHED);
    }
  };
  process.on("uncaughtException", onUncaught);
  return () => process.off("uncaughtException", onUncaught);
}
