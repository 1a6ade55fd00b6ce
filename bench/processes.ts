/**
 * The benchmarks' processes and what they cost, shared by bench/run.ts and
 * bench/http2.ts: children started pinned to a core with `taskset` (and the
 * open-file limit raised), stopped by their PID; their output read a line at
 * a time; and their CPU time and memory read from /proc (user+sys of
 * /proc/PID/stat, VmRSS/VmHWM of /proc/PID/status, summed over a master and
 * its workers).
 */

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer } from "node:net";

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "latin1" }).trim()) || 100;
export const NOFILE = 20000;
/** The proxy runs alone on core 0; the load generator and the backend share core 1. */
export const PROXY_CORE = 0;
export const LOAD_CORE = 1;

const children = new Set<ChildProcess>();

/** Start `argv` pinned to `core` ("0", "0-1"), with the open-file limit raised to NOFILE (or as far as the hard limit allows). */
export function pinned(
  core: number | string,
  argv: readonly string[],
  stdin: "pipe" | "ignore" = "ignore",
  env: NodeJS.ProcessEnv = process.env,
): ChildProcess {
  const script = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec taskset -c ${core} "$@"`;
  const child = spawn("bash", ["-c", script, "bench", ...argv], { stdio: [stdin, "pipe", "pipe"], env });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Stop a child we started, by its PID: `signal`, then SIGKILL after 5 s. */
export function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export function killAll(): void {
  for (const child of children) if (!exited(child)) child.kill("SIGKILL");
}
/** Kill every child still running when this process exits or is interrupted. */
export function killChildrenOnExit(): void {
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Calls `onLine` with every line the child writes to stdout; collects stderr. */
export function lines(child: ChildProcess, onLine: (line: string) => void): { stderr: () => string } {
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString("latin1");
    for (let nl = out.indexOf("\n"); nl !== -1; nl = out.indexOf("\n")) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      onLine(line);
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    if (err.length < 64 * 1024) err += chunk.toString("latin1");
  });
  return { stderr: () => err };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || !address) throw new Error("no free port");
  return address.port;
}

export async function waitForPort(port: number, child: ChildProcess, what: string, waitMs = 10_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`${what} exited before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`${what}: nothing listening on ${port} after ${waitMs / 1000} s`);
}

/** Fields of /proc/PID/stat from field 3 on (fields[0] is field 3), or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** `pid` and its child processes (a master and its workers). */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    if (Number(statFields(Number(entry))?.[4 - 3]) === pid) tree.push(Number(entry));
  }
  return tree;
}

/** user+sys CPU seconds of a process and its children: /proc/PID/stat fields 14 and 15, in clock ticks. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  let ticks = 0;
  for (const member of processTree(pid)) {
    const fields = statFields(member);
    if (fields) ticks += Number(fields[14 - 3]) + Number(fields[15 - 3]);
  }
  return ticks / CLK_TCK;
}

/** A /proc/PID/status line in kB (VmRSS, VmHWM), summed over the process and its children. */
export function statusKb(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  if (pid === undefined) return NaN;
  const tree = processTree(pid);
  if (tree.length > 1) return tree.reduce((sum, member) => sum + statusKb1(member, field), 0);
  return statusKb1(pid, field);
}

/**
 * Anonymous memory in kB (/proc/PID/smaps_rollup), summed over the process and its children: the
 * process's own heap and stacks, without the mapped program files, which RSS counts in every
 * process that maps them (a master and its workers map the same Node binary) and which PSS shares
 * out among every process on the machine that maps them (so it changes with what else runs).
 */
export function anonymousKb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  return processTree(pid).reduce((sum, member) => {
    try {
      const match = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${member}/smaps_rollup`, "latin1"));
      return sum + Number(match?.[1] ?? NaN);
    } catch {
      return NaN;
    }
  }, 0);
}

function statusKb1(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return Number(match?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/**
 * Stop a proxy started in `prefix`, remove the prefix, and return what it said that was not expected:
 * a crash first, then its error log's and stderr's lines (those matching `expected` left out).
 */
export async function stopProxy(
  child: ChildProcess,
  name: string,
  prefix: string,
  output: { stderr: () => string },
  expected?: RegExp,
): Promise<string[]> {
  const crashed = exited(child) ? [`${name} had exited: code ${child.exitCode}, signal ${child.signalCode}`] : [];
  await stop(child, "SIGTERM");
  let log = "";
  try {
    log = readFileSync(join(prefix, "logs", "error.log"), "latin1");
  } catch {
    // no log written
  }
  rmSync(prefix, { recursive: true, force: true });
  const said = (log + output.stderr()).split("\n").filter((line) => line.trim() !== "" && !expected?.test(line));
  return [...crashed, ...said];
}

/** Resolves when the parent writes a line, or closes our stdin: a load process's "go on". */
export function untilStdin(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.stdin.once("data", () => resolve());
    process.stdin.once("end", () => resolve());
    process.stdin.once("error", () => resolve());
  });
}

/**
 * The benchmark configuration: the seed's map/upstream/location on `listen`, proxying to `backend`,
 * `workers` workers, no access log unless `log` names one (a log_format and an access_log line).
 */
export function seedBenchConfig(listen: number, backend: number, workers = 1, log = "access_log off;"): string {
  return `worker_processes ${workers};
worker_rlimit_nofile ${NOFILE};
pid logs/nginx.pid;
error_log logs/error.log error;
events {
    worker_connections ${NOFILE};
}
http {
    ${log}
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    upstream websocket {
        server 127.0.0.1:${backend};
    }
    server {
        listen 127.0.0.1:${listen};
        location / {
            proxy_pass http://websocket;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
`;
}
