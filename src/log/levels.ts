/** nginx's error-log levels, least severe first, and where an error_log line writes. */

export const LOG_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ErrorLogTarget {
  /** Absolute path, or "stderr". */
  readonly path: string;
  readonly level: LogLevel;
}
