/**
 * Running `node bin/wsgate.js` for the command-line tests: bounded runs that
 * collect the output, waiting with a deadline, and telling whether a process
 * (possibly an unreaped zombie) is still alive.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository: dist/test/cli/ is three levels below it. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const BIN = join(REPO, "bin", "wsgate.js");

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run wsgate to completion; killed (and the result says so) after `timeoutMs`. */
export function runCli(args: readonly string[], timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("latin1").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("latin1").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

/** Lines of an output, without the empty string after the final newline. */
export function lines(text: string): string[] {
  const all = text.split("\n");
  if (all[all.length - 1] === "") all.pop();
  return all;
}

/** A long-running wsgate, its stderr collected. */
export interface Started {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

export function startCli(args: readonly string[]): Started {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("latin1").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) =>
    child.once("exit", (code, signal) => resolvePromise({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

/** Kill a child that is still running (for finally blocks). */
export function killIfRunning(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** Resolve within `timeoutMs` or reject with `what`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` every `stepMs` until it answers a value other than undefined; reject after `timeoutMs`. */
export async function pollFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  stepMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolvePromise) => setTimeout(resolvePromise, stepMs));
  }
}

/** The pid file's text, or undefined while it does not exist. */
export function readIfExists(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined; // removed between the two calls
  }
}

/** True when `pid` runs; a zombie (exited, not reaped: no init reaps here) counts as gone. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true; // no /proc: kill(0) said it exists
  }
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
export function connects(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => resolvePromise(false));
  });
}
