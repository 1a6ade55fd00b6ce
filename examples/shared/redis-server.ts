/**
 * Debian's redis-server for the examples and their tests, started on
 * loopback, in memory only (no RDB or AOF file), on a port given or free,
 * and stopped by its PID. The chat, push and Socket.IO examples fan messages
 * out between their backends through its pub/sub.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { accepts, freePort } from "./ports.js";

export const REDIS_SERVER = "/usr/bin/redis-server";

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Why Redis cannot be started here (for a test's skip), or false. */
export function redisMissing(): string | false {
  return existsSync(REDIS_SERVER)
    ? false
    : `${REDIS_SERVER} is not installed (scripts/install-test-deps.sh installs it)`;
}

/** A port that was free a moment ago on 127.0.0.1 (for Redis or anything else of an example). */
export const freeRedisPort = freePort;

/** Start redis-server on 127.0.0.1:`port` (a free one by default); resolves once it accepts connections. */
export async function startRedis(port?: number, startMs = 10_000): Promise<RunningRedis> {
  const chosen = port ?? (await freeRedisPort());
  const child = spawn(
    REDIS_SERVER,
    ["--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + startMs;
  while (!(await accepts(chosen))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server did not start on port ${chosen}: ${stderr.trim() || "no answer"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
