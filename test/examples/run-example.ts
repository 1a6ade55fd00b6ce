/**
 * Run the shipped examples/multi-site under nginx or wsgate from the same
 * file: the directory is copied to a fresh prefix (html files given one
 * fixed modification time, so ETag and Last-Modified agree between the two
 * copies), and the text of nginx.conf is changed mechanically, only where a
 * test run must differ: the listening ports (8000, 8080 → free loopback
 * ports) and the backends' ports. substitute() proves nothing else changed.
 */

import { spawn, type ChildProcess } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { ROOT, WSGATE_BIN } from "../support/proxy.js";
import { accepts } from "../../examples/shared/ports.js";

/** The project root, from dist/test/examples/. */
export const EXAMPLE_DIR = join(ROOT, "examples", "multi-site");
/** 2026-01-02T03:04:05Z: the modification time of every html file in a test prefix. */
export const FIXED_MTIME = 1767323045;

/** One mechanical change: every match of `pattern` becomes `replacement`, exactly `count` times. */
export interface Substitution {
  readonly pattern: RegExp;
  readonly replacement: string;
  readonly count: number;
}

/**
 * Apply the substitutions to `text`; throws unless each matched its count
 * and every line that differs is its original with one substitution applied.
 */
export function substitute(text: string, substitutions: readonly Substitution[]): string {
  let out = text;
  for (const { pattern, replacement, count } of substitutions) {
    const global = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : pattern.flags + "g");
    const found = [...out.matchAll(global)].length;
    if (found !== count) throw new Error(`substitute: ${pattern} matched ${found} times, not ${count}`);
    out = out.replace(global, replacement);
  }
  const before = text.split("\n");
  const after = out.split("\n");
  if (before.length !== after.length) throw new Error("substitute: the number of lines changed");
  before.forEach((line, i) => {
    if (line === after[i]) return;
    const explained = substitutions.some(({ pattern, replacement }) => line.replace(pattern, replacement) === after[i]);
    if (!explained) throw new Error(`substitute: line ${i + 1} changed beyond the substitutions: ${after[i]}`);
  });
  return out;
}

export interface ExamplePorts {
  /** Stands in for 443 (`listen 8080`): the site and the www redirect. */
  readonly site: number;
  /** Stands in for 80 (`listen 8000`): the redirect to https. */
  readonly plain: number;
  readonly api: readonly [number, number];
  readonly realtime: readonly [number, number];
}

/** The example's nginx.conf with this run's ports. */
export function exampleConf(ports: ExamplePorts): { original: string; text: string } {
  const original = readFileSync(join(EXAMPLE_DIR, "nginx.conf"), "utf8");
  const text = substitute(original, [
    { pattern: /(listen\s+)8080\b/, replacement: `$1127.0.0.1:${ports.site}`, count: 2 },
    { pattern: /(listen\s+)8000\b/, replacement: `$1127.0.0.1:${ports.plain}`, count: 1 },
    { pattern: /(server\s+127\.0\.0\.1:)9001\b/, replacement: `$1${ports.api[0]}`, count: 1 },
    { pattern: /(server\s+127\.0\.0\.1:)9002\b/, replacement: `$1${ports.api[1]}`, count: 1 },
    { pattern: /(server\s+127\.0\.0\.1:)9101\b/, replacement: `$1${ports.realtime[0]}`, count: 1 },
    { pattern: /(server\s+127\.0\.0\.1:)9102\b/, replacement: `$1${ports.realtime[1]}`, count: 1 },
  ]);
  return { original, text };
}

export interface RunningExample {
  readonly kind: "nginx" | "wsgate";
  readonly prefix: string;
  readonly ports: ExamplePorts;
  readLog(name: string): string;
  stop(): Promise<void>;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return "";
  }
}

/** Ports in LISTEN state per /proc/net/tcp (undefined without /proc): no probe connection is made. */
function listening(): Set<number> | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/net/tcp", "latin1");
  } catch {
    return undefined;
  }
  const ports = new Set<number>();
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] === "0A" && fields[1]) ports.add(Number.parseInt(fields[1].slice(fields[1].indexOf(":") + 1), 16));
  }
  return ports;
}

/** Copy the example to a fresh prefix, write its nginx.conf with these ports, start `kind` in the foreground. */
export async function startExample(
  kind: "nginx" | "wsgate",
  nginxBinary: string,
  ports: ExamplePorts,
): Promise<RunningExample> {
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-example-${kind}-`));
  cpSync(EXAMPLE_DIR, prefix, {
    recursive: true,
    filter: (source) => !relative(EXAMPLE_DIR, source).startsWith(`logs${sep}`),
  });
  mkdirSync(join(prefix, "logs"), { recursive: true });
  for (const file of files(join(prefix, "html"))) utimesSync(file, FIXED_MTIME, FIXED_MTIME);
  writeFileSync(join(prefix, "nginx.conf"), exampleConf(ports).text);

  const args = ["-p", prefix + "/", "-c", "nginx.conf", "-g", "daemon off; master_process off;"];
  const child: ChildProcess =
    kind === "nginx"
      ? spawn(nginxBinary, ["-e", join(prefix, "logs", "error.log"), ...args], {
          cwd: prefix,
          stdio: ["ignore", "ignore", "pipe"],
        })
      : spawn(process.execPath, [WSGATE_BIN, ...args], {
          cwd: prefix,
          stdio: ["ignore", "ignore", "pipe"],
        });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGQUIT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };

  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = readOr(join(prefix, "logs", "error.log"));
      await stop();
      throw new Error(`${kind} exited at start: ${stderr}\n${log}`);
    }
    if (readOr(join(prefix, "logs", "nginx.pid")).trim() === String(child.pid)) {
      const open = listening();
      const ready = open
        ? open.has(ports.site) && open.has(ports.plain)
        : (await accepts(ports.site)) && (await accepts(ports.plain));
      if (ready) break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} did not listen on ${ports.site} and ${ports.plain}: ${stderr}`);
    }
    await new Promise((done) => setTimeout(done, 25));
  }
  return { kind, prefix, ports, readLog: (name) => readOr(join(prefix, "logs", name)), stop };
}
