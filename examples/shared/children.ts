/**
 * The child processes the examples' launchers start (backends, wsgate, Redis): waiting until one is
 * ready, and stopping one for good.
 */

import type { ChildProcess } from "node:child_process";

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Poll `ready` until it holds; throws if the child exits first or `ms` pass. */
export async function whenReady(
  child: ChildProcess,
  ready: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ready())) {
    if (exited(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode})`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Send `signal`, SIGKILL after `killAfterMs`; resolves once the child exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, killAfterMs = 5000): Promise<void> {
  if (exited(child)) return;
  const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  await done;
  clearTimeout(timer);
}
