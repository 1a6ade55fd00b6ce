/**
 * Starting wsgate for a test: a configuration in a fresh prefix, the process
 * in the foreground, ready when its pid file exists (written after every
 * socket is bound), stopped with QUIT.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface Wsgate {
  readonly prefix: string;
  readonly process: ChildProcess;
  log(name: string): string;
  stop(): Promise<void>;
}

/**
 * `http` is the inside of the http block, `main` more main-context directives;
 * logs go to logs/access.log and logs/error.log.
 */
export async function startWsgate(http: string, options: { shell?: string; main?: string } = {}): Promise<Wsgate> {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-flow-"));
  mkdirSync(join(prefix, "logs"));
  writeFileSync(
    join(prefix, "nginx.conf"),
    `events {} pid logs/nginx.pid; error_log logs/error.log info; ${options.main ?? ""}\nhttp { access_log logs/access.log;\n${http}\n}\n`,
  );
  const args = [join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf", "-g", "daemon off;"];
  const child = options.shell
    ? spawn("bash", ["-c", `${options.shell}; exec "$0" "$@"`, process.execPath, ...args], { stdio: "ignore" })
    : spawn(process.execPath, args, { stdio: "ignore" });
  const deadline = Date.now() + 5000;
  while (!existsSync(join(prefix, "logs", "nginx.pid"))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`wsgate did not start: ${readLog(prefix, "error.log")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    prefix,
    process: child,
    log: (name) => readLog(prefix, name),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function readLog(prefix: string, name: string): string {
  const path = join(prefix, "logs", name);
  return existsSync(path) ? readFileSync(path, "latin1") : "";
}

/** Resolves when `emitter` emits `event`; rejects after `ms`. */
export function eventWithin<T = unknown>(
  emitter: { once(event: string, listener: (...args: never[]) => void): unknown },
  event: string,
  ms: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    emitter.once(event, ((...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    }) as (...args: never[]) => void);
  });
}
