/**
 * The error log in nginx's format:
 *   2026/11/25 10:00:00 [error] 1234#1234: *5 MESSAGE, client: 127.0.0.1, server: , request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8010/", host: "h"
 * A line goes to every target whose level admits it; writes are synchronous,
 * as nginx's, so nothing is lost when the process dies right after.
 */

import { LOG_LEVELS, type ErrorLogTarget, type LogLevel } from "./levels.js";
import { formatErrorLogTime } from "../vars/time.js";
import { writeAll, type LogFiles } from "./files.js";

/** What nginx appends after a request-related message (ngx_http_log_error). */
export interface RequestLogContext {
  readonly connectionId: number;
  readonly client?: string;
  readonly server?: string;
  readonly request?: string;
  /** The URI of the subrequest the line is about. */
  readonly subrequest?: string;
  readonly upstream?: string;
  readonly host?: string;
  /** "while connecting to upstream", "while reading response header from upstream" … */
  readonly action?: string;
}

const SEVERITY: Record<LogLevel, number> = Object.fromEntries(
  LOG_LEVELS.map((level, index) => [level, LOG_LEVELS.length - 1 - index]),
) as Record<LogLevel, number>;

export class ErrorLog {
  private readonly targets: ReadonlyArray<{ path: string; severity: number }>;

  /** Opens every target now, so a file that cannot be opened fails the start, as in nginx. */
  constructor(
    targets: readonly ErrorLogTarget[],
    private readonly files: LogFiles,
  ) {
    for (const target of targets) files.open(target.path);
    this.targets = targets.map((target) => ({ path: target.path, severity: SEVERITY[target.level] }));
  }

  log(level: LogLevel, message: string, context?: RequestLogContext): void {
    const severity = SEVERITY[level];
    let line: string | undefined;
    for (const target of this.targets) {
      if (severity > target.severity) continue;
      line ??= formatLine(level, message, context);
      // Looked up each time: a USR1 reopen changes the descriptor behind the path.
      const fd = this.files.fdFor(target.path);
      if (fd === undefined) continue;
      try {
        writeAll(fd, line);
      } catch {
        // A full disk or a closed stderr must not take the proxy down; nginx ignores it too.
      }
    }
  }
}

export function formatLine(level: LogLevel, message: string, context?: RequestLogContext): string {
  const pid = process.pid;
  let line = `${formatErrorLogTime(Date.now())} [${level}] ${pid}#${pid}: `;
  if (context) line += `*${context.connectionId} `;
  line += message;
  if (context) {
    if (context.action) line += ` ${context.action}`;
    if (context.client !== undefined) line += `, client: ${context.client}`;
    if (context.server !== undefined) line += `, server: ${context.server}`;
    if (context.request !== undefined) line += `, request: "${context.request}"`;
    if (context.subrequest !== undefined) line += `, subrequest: "${context.subrequest}"`;
    if (context.upstream !== undefined) line += `, upstream: "${context.upstream}"`;
    if (context.host !== undefined) line += `, host: "${context.host}"`;
  }
  return line + "\n";
}

/** The main error log and one per distinct list of http-level error_log lines. */
export class ErrorLogs {
  private readonly byList = new WeakMap<readonly ErrorLogTarget[], ErrorLog>();

  constructor(
    readonly main: ErrorLog,
    private readonly files: LogFiles,
  ) {}

  forLocation(loc: { readonly errorLogs: readonly ErrorLogTarget[] | undefined }): ErrorLog {
    const list = loc.errorLogs;
    if (!list) return this.main;
    let log = this.byList.get(list);
    if (!log) {
      log = new ErrorLog(list, this.files);
      this.byList.set(list, log);
    }
    return log;
  }
}
