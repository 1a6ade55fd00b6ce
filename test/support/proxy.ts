/**
 * Running wsgate as a real process for tests, the one way every suite starts
 * it: a full nginx.conf (and any other files) in a fresh prefix, `daemon
 * off;`, ready when its pid file exists (wsgate writes it only after every
 * listening socket is bound), stopped with a signal and a bounded wait.
 * httpConf() writes the usual nginx.conf around the inside of an http block.
 * Also the one free-port helper of the tests.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "./wait.js";

/** The repository (this file is compiled to dist/test/support/). */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const WSGATE_BIN = join(ROOT, "bin", "wsgate.js");

export interface StartOptions {
  /** The whole nginx.conf text, ports already in it. */
  readonly conf: string;
  /** More files, paths relative to the prefix. */
  readonly files?: Readonly<Record<string, string>>;
  /**
   * Start under `ulimit -n` (through bash): 128 at least, since Node's module loader reads wsgate's
   * modules in parallel at start and a lower limit fails the start itself.
   */
  readonly openFileLimit?: number;
  /** How long to wait for the pid file (15 s by default). */
  readonly startMs?: number;
  /** The environment (the test runner's by default). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface WsgateProcess {
  readonly prefix: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** A file of the prefix ("" if it does not exist). */
  readFile(name: string): string;
  /** logs/NAME ("" if it does not exist). */
  accessLog(name?: string): string;
  /** logs/error.log (or the name given). */
  errorLog(name?: string): string;
  /** What the process wrote on stdout and stderr. */
  output(): string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Signal, wait for the exit (bounded, then SIGKILL), remove the prefix; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A port that was free a moment ago: bind port 0 on a loopback address, read
 * the port the kernel chose, close. Another process can take the port between
 * this call and its use; callers that start a server on it should be ready to
 * say so in their error (startNginx includes the error log, which names bind()).
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address !== "object") throw new Error(`freePort: no port on ${host}`);
  return address.port;
}

/** `count` distinct free ports (each from its own bind of port 0). */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}

/**
 * Poll `predicate` until it holds, at most `ms`. Only where no event exists
 * (a log line is written when a connection closes); await events elsewhere.
 */
export async function waitFor(predicate: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  await until(() => predicate(), ms, what);
}

/**
 * The usual nginx.conf around `http`, the inside of the http block: pid file
 * and logs in the prefix (logs/access.log, logs/error.log at info), `main`
 * more main-context directives.
 */
export function httpConf(http: string, main = ""): string {
  return `pid logs/nginx.pid;\nerror_log logs/error.log info;\nevents {}\n${main}\nhttp { access_log logs/access.log;\n${http}\n}\n`;
}

function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, "latin1") : "";
}

/** The pid file the configuration names, relative to the prefix; undefined when it names none. */
function pidFileOf(conf: string): string | undefined {
  return /^\s*pid\s+([^;\s]+)\s*;/m.exec(conf)?.[1];
}

/**
 * wsgate in the foreground with `options.conf` in a fresh prefix; resolves once its pid file exists (the pid file
 * the configuration names, else logs/wsgate.pid given with -g). A start that fails rejects with what wsgate wrote
 * and its error log, and leaves nothing behind.
 */
export async function startWsgate(options: StartOptions): Promise<WsgateProcess> {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-e2e-"));
  mkdirSync(join(prefix, "logs"));
  writeFileSync(join(prefix, "nginx.conf"), options.conf, "latin1");
  for (const [name, text] of Object.entries(options.files ?? {})) {
    const path = join(prefix, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, "latin1");
  }
  const named = pidFileOf(options.conf);
  const pidFile = named ?? "logs/wsgate.pid";
  const globals = named === undefined ? `daemon off; pid ${pidFile};` : "daemon off;";
  const args = [WSGATE_BIN, "-p", prefix + "/", "-c", "nginx.conf", "-g", globals];
  const child =
    options.openFileLimit === undefined
      ? spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env })
      : spawn("bash", ["-c", `ulimit -n ${options.openFileLimit} && exec "$0" "$@"`, process.execPath, ...args], {
          stdio: ["ignore", "pipe", "pipe"],
          env: options.env ?? process.env,
        });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const pidPath = pidFile.startsWith("/") ? pidFile : join(prefix, pidFile);
  const running = (): boolean => child.exitCode === null && child.signalCode === null;

  try {
    await until(
      () => {
        if (!running()) throw new Error("exited");
        return existsSync(pidPath);
      },
      // A start takes about a second; a machine busy with other suites can make it several.
      options.startMs ?? 15_000,
      "the pid file",
    );
  } catch {
    if (running()) child.kill("SIGKILL");
    await exited;
    const log = readText(join(prefix, "logs", "error.log"));
    rmSync(prefix, { recursive: true, force: true });
    throw new Error(`wsgate did not start (exit ${String(child.exitCode)}): ${output}${log}`);
  }
  const pid = Number(readText(pidPath).trim());

  return {
    prefix,
    pid,
    child,
    readFile: (name) => readText(join(prefix, name)),
    accessLog: (name = "access.log") => readText(join(prefix, "logs", name)),
    errorLog: (name = "error.log") => readText(join(prefix, "logs", name)),
    output: () => output,
    alive: running,
    stop: async (signal = "SIGQUIT") => {
      if (running()) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(prefix, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}
