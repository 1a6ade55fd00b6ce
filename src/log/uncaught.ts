/**
 * The error-log text of a throw that reached a guard (a connection's, the
 * proxy session's, or the process's last resort): the error and where it was
 * thrown, on one line as every error-log entry is, so that the bug can be
 * found from the log alone and line-based log readers still read it.
 */

/** Stack frames kept: enough to find the throw, short enough for one line. */
const FRAMES = 4;

export function uncaughtLine(err: unknown): string {
  if (!(err instanceof Error)) return `uncaught exception: ${String(err)}`;
  const frames = (err.stack ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("at "))
    .slice(0, FRAMES);
  const where = frames.length > 0 ? ` (${frames.join("; ")})` : "";
  return `uncaught exception: ${err.name}: ${err.message.replace(/\s*\n\s*/g, " ")}${where}`;
}
