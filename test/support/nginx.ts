/**
 * Real nginx for differential tests: one configuration run in a fresh
 * temporary prefix, in the foreground (`daemon off; master_process off;`),
 * so a test can compare wsgate with what nginx actually does.
 *
 * `conf` is the HTTP-LEVEL text by default: what goes inside `http { }`.
 * startNginx wraps it in a whole nginx.conf that keeps everything inside the
 * prefix:
 *
 *     pid logs/nginx.pid;  error_log logs/error.log;  lock_file logs/nginx.lock;
 *     events { worker_connections 1024; }
 *     http {
 *       log_format main '...';          # the Debian/nginx.org "main" format
 *       access_log logs/access.log main;
 *       client_body_temp_path ...; proxy_temp_path ...;   # inside the prefix
 *       <conf>
 *     }
 *
 * so servers may say `access_log logs/NAME.log main;` or rely on the default
 * logs/access.log. With `full: true`, `conf` is the WHOLE nginx.conf instead;
 * `pid` and `error_log` are then added with -g when the text has none (an
 * nginx started with the Debian defaults would use /run/nginx.pid).
 *
 * Relative paths in the configuration (include, logs/...) are relative to the
 * prefix, where `files` are written too (their names may hold folders).
 *
 * Only loopback addresses: write `listen 127.0.0.1:PORT` (or `[::1]:PORT`);
 * a bare `listen PORT` binds every address.
 *
 * Start-up is ready when the pid file holds nginx's pid (written after every
 * bind) and each port is listening per /proc/net/tcp{,6}; no probe connection
 * is made (where /proc is missing, a connect probe is used instead), so the
 * test's first connection is nginx's `*1`. A bounded wait (5 s by default)
 * fails with nginx's stderr, error log and configuration in the message.
 * stop() sends SIGQUIT (with master_process off nginx exits at once, so open
 * tunnels write no access-log line), then SIGKILL after 3 s.
 */

import { spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";

/** The `main` log format of Debian's and nginx.org's nginx.conf. */
export const MAIN_LOG_FORMAT =
  `'$remote_addr - $remote_user [$time_local] "$request" ' ` +
  `'$status $body_bytes_sent "$http_referer" ' ` +
  `'"$http_user_agent" "$http_x_forwarded_for"'`;

const CANDIDATES = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"];

let found: { path: string | undefined } | undefined;

/** The nginx binary (NGINX_BIN, a usual place, or PATH), or undefined when there is none. */
export function nginxAvailable(): string | undefined {
  if (found) return found.path;
  const fromEnv = process.env["NGINX_BIN"];
  const onPath = (process.env["PATH"] ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "")
    .map((dir) => join(dir, "nginx"));
  const candidates = [...(fromEnv ? [fromEnv] : []), ...CANDIDATES, ...onPath];
  const path = candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  found = { path };
  return path;
}

/** For `test(name, { skip: nginxSkip() }, ...)`: false when nginx is here, else the reason to skip. */
export function nginxSkip(): string | false {
  return nginxAvailable() === undefined
    ? "nginx is not installed (scripts/install-test-deps.sh installs Debian's nginx-light when run as root)"
    : false;
}

let versionText: string | undefined;

/** `nginx -V` output (stderr), cached; "" without nginx. */
export function nginxVersionInfo(): string {
  if (versionText !== undefined) return versionText;
  const bin = nginxAvailable();
  versionText = bin ? spawnSync(bin, ["-V"], { encoding: "latin1" }).stderr : "";
  return versionText;
}

/** "1.22.1" or undefined. */
export function nginxVersion(): string | undefined {
  return /nginx\/(\d+\.\d+\.\d+)/.exec(nginxVersionInfo())?.[1];
}

export interface NginxOptions {
  /** The http-level configuration (inside `http { }`), or the whole nginx.conf with `full: true`. */
  conf: string;
  /** `conf` is a whole nginx.conf rather than the inside of `http { }`. */
  full?: boolean;
  /** Files to write into the prefix before start, by path relative to it (e.g. "conf.d/a.conf"). */
  files?: Record<string, string>;
  /** Ports to wait for; by default every port of a `listen` directive in the configuration text. */
  ports?: number[];
  /** How long to wait for nginx to accept on every port (ms, default 5000). */
  startTimeoutMs?: number;
  /** Keep the prefix after stop() (for looking at it by hand); also WSGATE_KEEP_NGINX=1. */
  keep?: boolean;
}

export interface RunningNginx {
  /** The temporary prefix (with a trailing slash, as passed to -p). */
  readonly prefix: string;
  /** The nginx.conf written into the prefix. */
  readonly confPath: string;
  /** Its whole text, as written. */
  readonly confText: string;
  readonly pid: number;
  /** The ports waited for. */
  readonly ports: readonly number[];
  /** logs/error.log ("" when absent). */
  errorLog(): string;
  /** logs/<name> (default access.log), or <prefix>/<name> when name holds a "/"; "" when absent. */
  accessLog(name?: string): string;
  /** What nginx wrote to its stderr (the Debian build logs start-up errors there). */
  stderr(): string;
  /** True until the process has exited. */
  running(): boolean;
  /** SIGQUIT, SIGKILL after a bound, wait for exit; removes the prefix unless kept. Idempotent. */
  stop(): Promise<void>;
}

/** Temp paths the build knows (modules built out have no such directive). */
function tempPathDirectives(): string {
  const info = nginxVersionInfo();
  const lines = ["client_body_temp_path temp/client_body;", "proxy_temp_path temp/proxy;"];
  if (!info.includes("--without-http_fastcgi_module")) lines.push("fastcgi_temp_path temp/fastcgi;");
  if (!info.includes("--without-http_uwsgi_module")) lines.push("uwsgi_temp_path temp/uwsgi;");
  if (!info.includes("--without-http_scgi_module")) lines.push("scgi_temp_path temp/scgi;");
  return lines.join("\n  ");
}

/** The whole nginx.conf for an http-level text. */
export function wrapHttpConf(http: string): string {
  return `pid logs/nginx.pid;
error_log logs/error.log;
lock_file logs/nginx.lock;
events { worker_connections 1024; }
http {
  log_format main ${MAIN_LOG_FORMAT};
  access_log logs/access.log main;
  ${tempPathDirectives()}
${http}
}
`;
}

/** Ports of `listen` directives in a configuration text (address:port, [v6]:port, or a bare port). */
export function listenPorts(text: string): number[] {
  const ports = new Set<number>();
  const withoutComments = text.replace(/(^|[\s;{}])#[^\n]*/g, "$1");
  for (const match of withoutComments.matchAll(/(?:^|[\s;{}])listen\s+([^\s;]+)/g)) {
    const spec = match[1] ?? "";
    const port = /^(?:\[[^\]]*\]:|[^:[\]]*:)?(\d+)$/.exec(spec)?.[1];
    if (port !== undefined) ports.add(Number(port));
  }
  return [...ports];
}

/** Loopback host to probe for a port: ::1 when only `[::1]:port` listens on it. */
function probeHost(text: string, port: number): string {
  const v4 = new RegExp(`listen\\s+(?:[^\\s;\\[]*:)?${port}[\\s;]`).test(text);
  const v6 = new RegExp(`listen\\s+\\[[^\\]]*\\]:${port}[\\s;]`).test(text);
  return v6 && !v4 ? "::1" : "127.0.0.1";
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Ports in LISTEN state per /proc/net/tcp and tcp6, or undefined without /proc.
 * Looking there instead of connecting keeps nginx's connection counter
 * (the `*N` of error-log lines) untouched: a test's first connection is *1.
 */
function listeningPorts(): Set<number> | undefined {
  const ports = new Set<number>();
  let seen = false;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "latin1");
    } catch {
      continue;
    }
    seen = true;
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (fields[3] !== "0A" || local === undefined) continue;
      ports.add(Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16));
    }
  }
  return seen ? ports : undefined;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return "";
  }
}

/** True once `closed` settles (exit and stdio closed), false after `ms`. */
function settledWithin(closed: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    closed.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function startNginx(opts: NginxOptions): Promise<RunningNginx> {
  const bin = nginxAvailable();
  if (bin === undefined) throw new Error("startNginx: nginx is not installed (see scripts/install-test-deps.sh)");
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-nginx-")) + "/";
  for (const dir of ["logs", "temp"]) mkdirSync(join(prefix, dir), { recursive: true });
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    if (isAbsolute(name) || name.split("/").includes(".."))
      throw new Error(`startNginx: file name ${name} leaves the prefix`);
    mkdirSync(dirname(join(prefix, name)), { recursive: true });
    writeFileSync(join(prefix, name), text);
  }
  const confText = opts.full ? opts.conf : wrapHttpConf(opts.conf);
  const confPath = join(prefix, "nginx.conf");
  writeFileSync(confPath, confText);

  const globals = ["daemon off;", "master_process off;"];
  if (opts.full) {
    if (!/(^|[\s;{}])pid\s/.test(confText)) globals.push("pid logs/nginx.pid;");
    if (!/(^|[\s;{}])error_log\s/.test(confText)) globals.push("error_log logs/error.log;");
  }
  const ports = opts.ports ?? listenPorts(confText);
  const pidSpec = /(?:^|[\s;{}])pid\s+([^\s;]+)\s*;/.exec(confText)?.[1] ?? "logs/nginx.pid";
  const pidPath = isAbsolute(pidSpec) ? pidSpec : join(prefix, pidSpec);
  const keep = opts.keep === true || process.env["WSGATE_KEEP_NGINX"] === "1";

  const child = spawn(bin, ["-p", prefix, "-c", "nginx.conf", "-g", globals.join(" ")], {
    cwd: prefix,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderrText = "";
  child.stderr?.setEncoding("latin1");
  child.stderr?.on("data", (chunk: string) => {
    stderrText += chunk;
  });
  let spawnError: Error | undefined;
  const closed = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", (error) => {
      spawnError = error;
      resolve();
    });
  });
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null || spawnError !== undefined;

  const errorLog = (): string => readOr(join(prefix, "logs", "error.log"));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited()) {
      child.kill("SIGQUIT");
      if (!(await settledWithin(closed, 3000))) {
        child.kill("SIGKILL");
        await settledWithin(closed, 3000);
      }
    } else {
      await settledWithin(closed, 1000);
    }
    child.stderr?.destroy();
    if (!keep) rmSync(prefix, { recursive: true, force: true });
  };

  const timeoutMs = opts.startTimeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(ports);
  let failure: string | undefined;
  while (pending.size > 0) {
    if (exited()) {
      failure = spawnError
        ? `could not run ${bin}: ${spawnError.message}`
        : `nginx exited (code ${child.exitCode}, signal ${child.signalCode}) before accepting on ${[...pending].join(", ")}`;
      break;
    }
    if (Date.now() >= deadline) {
      failure = `nginx did not accept on port(s) ${[...pending].join(", ")} within ${timeoutMs} ms`;
      break;
    }
    // nginx writes its pid file after every listening socket is bound: config read, binds done.
    if (readOr(pidPath).trim() === String(child.pid)) {
      const listening = listeningPorts();
      for (const port of [...pending]) {
        const ready = listening ? listening.has(port) : await accepts(probeHost(confText, port), port);
        if (ready) pending.delete(port);
      }
    }
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (ports.length === 0) {
    // Nothing to wait for: give a broken configuration the chance to fail visibly.
    await settledWithin(closed, 200);
    if (exited()) failure = `nginx exited (code ${child.exitCode}) at start`;
  }
  if (failure !== undefined) {
    // Read the error log before stop() removes the prefix; stop() waits for the exit, so stderr is whole.
    const log = errorLog();
    await stop();
    throw new Error(
      `startNginx: ${failure}\n--- stderr:\n${stderrText}\n--- logs/error.log:\n${log}\n--- nginx.conf:\n${confText}`,
    );
  }
  if (child.pid === undefined) throw new Error("startNginx: no pid");

  return {
    prefix,
    confPath,
    confText,
    pid: child.pid,
    ports,
    errorLog,
    accessLog: (name = "access.log") => readOr(name.includes("/") ? join(prefix, name) : join(prefix, "logs", name)),
    stderr: () => stderrText,
    running: () => !exited(),
    stop,
  };
}

/** Run `nginx -t` (or other flags) on a whole configuration text in a fresh prefix: exit code and both streams. */
export function nginxTest(
  confText: string,
  args: string[] = ["-t"],
  files: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string; prefix: string } {
  const bin = nginxAvailable();
  if (bin === undefined) throw new Error("nginxTest: nginx is not installed");
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-nginx-t-")) + "/";
  try {
    mkdirSync(join(prefix, "logs"), { recursive: true });
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(prefix, name)), { recursive: true });
      writeFileSync(join(prefix, name), text);
    }
    writeFileSync(join(prefix, "nginx.conf"), confText);
    // -t creates the pid file (empty): keep it in the prefix rather than at the build's /run/nginx.pid.
    const globals = /(^|[\s;{}])pid\s/.test(confText) ? [] : ["-g", "pid logs/nginx.pid;"];
    const result = spawnSync(bin, [...args, "-p", prefix, "-c", "nginx.conf", ...globals], {
      cwd: prefix,
      encoding: "latin1",
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, prefix };
  } finally {
    if (existsSync(prefix)) rmSync(prefix, { recursive: true, force: true });
  }
}
