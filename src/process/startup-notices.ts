/**
 * What a starting process tells its error log: the configuration's warnings
 * (also printed at -t), the process settings it cannot honour as nginx does
 * (`user` without root, `worker_rlimit_nofile`: Node.js has no setrlimit()),
 * and the descriptor limit in force, as nginx's "getrlimit(RLIMIT_NOFILE)" notice.
 */

import { readFileSync } from "node:fs";
import type { Config } from "../config/model.js";
import type { ErrorLog } from "../log/error-log.js";
import { serverNameWarnings } from "../http/bindings.js";

/** nginx's warning when `user` is set and the master is not root (with its place, as nginx writes it). */
export function userWarning(config: Config): string | undefined {
  const user = config.main.user;
  if (!user || isRoot()) return undefined;
  const place = user.place ? ` in ${user.place.file}:${user.place.line}` : "";
  return `the "user" directive makes sense only if the master process runs with super-user privileges, ignored${place}`;
}

/** nginx's warnings about a configuration, in its order: `user`, the directives as read, then server names. */
export function configWarnings(config: Config): string[] {
  const user = userWarning(config);
  return [...(user ? [user] : []), ...config.warnings, ...(config.http ? serverNameWarnings(config.http) : [])];
}

export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

export function logStartNotices(config: Config, errorLog: ErrorLog, role: "single" | "master"): void {
  for (const warning of configWarnings(config)) errorLog.log("warn", warning);
  const limits = openFileLimits();
  if (limits) errorLog.log("notice", `getrlimit(RLIMIT_NOFILE): ${limits}`);
  const rlimit = config.main.workerRlimitNofile;
  if (rlimit !== undefined) {
    errorLog.log(
      "warn",
      `worker_rlimit_nofile ${rlimit} is not applied: Node.js cannot call setrlimit(); ` +
        `the limit in force is the one wsgate was started with (${limits ?? "unknown"}): raise it with "ulimit -n" or systemd's LimitNOFILE=`,
    );
  }
  if (role === "single" && config.main.user && isRoot()) {
    errorLog.log("notice", `"user" switches the worker processes only; with "master_process off" it is not applied`);
  }
}

/** "soft:hard" from /proc/self/limits (Linux), as nginx prints them. */
function openFileLimits(): string | undefined {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "latin1"));
    return line ? `${line[1]}:${line[2]}` : undefined;
  } catch {
    return undefined;
  }
}
