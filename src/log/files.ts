/**
 * The log files a process has open, shared by path (several access_log lines
 * may name one file), opened for appending as nginx opens them, and reopened
 * together on USR1 so that logrotate can move them away.
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { SystemError, systemErrorText } from "../core/errors.js";

export class LogFiles {
  private readonly fds = new Map<string, number>();

  /** Open (or share) `path`; "stderr" is fd 2. Throws nginx's open() message on failure. */
  open(path: string): number {
    if (path === "stderr") return 2;
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openLogFile(path);
      this.fds.set(path, fd);
    }
    return fd;
  }

  /** USR1: open every file anew by its name, then close the old descriptors. */
  reopen(): Array<{ path: string; error: string }> {
    const failures: Array<{ path: string; error: string }> = [];
    for (const [path, oldFd] of this.fds) {
      try {
        this.fds.set(path, openLogFile(path));
        closeSync(oldFd);
      } catch (err) {
        failures.push({ path, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return failures;
  }

  fdFor(path: string): number | undefined {
    return path === "stderr" ? 2 : this.fds.get(path);
  }

  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function openLogFile(path: string): number {
  try {
    return openSync(path, "a", 0o644);
  } catch (err) {
    throw new SystemError(`open() "${path}" failed (${systemErrorText(err)})`);
  }
}

/** write(2) the whole string; a log line must not be lost to a short write. */
export function writeAll(fd: number, text: string): void {
  // The string goes to write(2) as it is (no Buffer made per line); in latin1 a byte is a character, so
  // what a short write left is the rest of the string.
  const written = writeSync(fd, text, null, "latin1");
  if (written === text.length) return;
  const data = Buffer.from(text, "latin1");
  let offset = written;
  while (offset < data.length) offset += writeSync(fd, data, offset);
}
