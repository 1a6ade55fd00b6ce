/**
 * The pid file: written atomically (a temporary file renamed over the name)
 * so a reader never sees a half-written number, and removed on exit.
 */

import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { SystemError, systemErrorText } from "../core/errors.js";

export function writePidFile(path: string, pid = process.pid): void {
  const temporary = `${path}.${pid}.tmp`;
  try {
    writeFileSync(temporary, `${pid}\n`, { mode: 0o644 });
    renameSync(temporary, path);
  } catch (err) {
    try {
      unlinkSync(temporary);
    } catch {
      // nothing was written
    }
    throw new SystemError(`open() "${path}" failed (${systemErrorText(err)})`);
  }
}

export function removePidFile(path: string, pid = process.pid): void {
  try {
    // Only our own: a newer instance may have written its pid there meanwhile.
    if (readPidFile(path) === pid) unlinkSync(path);
  } catch {
    // already gone
  }
}

/** The pid in the file, for `-s`; throws nginx's open() message when missing. */
export function readPidFile(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (err) {
    throw new SystemError(`open() "${path}" failed (${systemErrorText(err)})`);
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new SystemError(`invalid PID number "${text.trim()}" in "${path}"`);
  return pid;
}
