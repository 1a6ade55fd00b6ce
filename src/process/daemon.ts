/**
 * `daemon on` (nginx's default): the command starts a detached copy of
 * itself and returns once that copy has bound its sockets and written its pid
 * file, or prints the copy's error and fails, so the shell sees what it would
 * see with nginx.
 */

import { spawn } from "node:child_process";
import { writeSync } from "node:fs";
import { withMallocTrim } from "./malloc-env.js";

const CHILD_MARK = "WSGATE_DAEMON_CHILD";

export type DaemonReport = { ok: true } | { ok: false; message: string };

export function isDaemonChild(): boolean {
  return process.env[CHILD_MARK] === "1";
}

/** In the detached copy: tell the waiting parent how the start went, then let it go. */
export function reportToParent(report: DaemonReport): void {
  if (!isDaemonChild() || !process.send) return;
  process.send(report, () => process.disconnect?.());
}

export function daemonize(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore", "ipc"],
    env: withMallocTrim({ ...process.env, [CHILD_MARK]: "1" }),
  });
  return new Promise((resolve) => {
    child.once("message", (report: DaemonReport) => {
      child.unref();
      child.channel?.unref();
      if (!report.ok) writeSync(2, `wsgate: [emerg] ${report.message}\n`);
      resolve(report.ok ? 0 : 1);
    });
    child.once("exit", (code) => resolve(code ?? 1));
    child.once("error", (err) => {
      writeSync(2, `wsgate: [emerg] fork() failed (${err.message})\n`);
      resolve(1);
    });
  });
}
