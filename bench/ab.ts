/**
 * Interleaved A/B of the request path: CPU per WebSocket upgrade and per HTTP
 * request through the seed's configuration (bench/run.ts's `upgrades` and
 * `http` phases), for several builds of wsgate and nginx taking turns. Each
 * peer is started once, pinned to core 0 (one process, `master_process off`),
 * and the phases go round the peers `--rounds` times, so a slow minute of a
 * shared machine lands on every peer alike; the table gives the median and the
 * spread of each peer's CPU per unit of work.
 *
 *   node dist/bench/ab.js --builds nginx,/path/to/old/checkout,. [--only upgrades,http]
 *        [--rounds 3] [--seconds 3] [--warmup 1] [--access-log off|main|combined]
 *        [--cpu-prof DIR | --callgrind DIR]
 *
 * A build is a directory holding bin/wsgate.js and its dist/ (a copy of an
 * older build, or `.`), optionally followed by Node flags for it
 * (`.+--max-semi-space-size=64`); `nginx` is Debian's nginx. `--cpu-prof DIR` starts
 * every wsgate with Node's `--cpu-prof`: one .cpuprofile per build in DIR,
 * written when the proxy stops (scripts/cpuprofile-top.mjs sums it).
 * `--callgrind DIR` runs every wsgate under `valgrind --tool=callgrind`, zeroes
 * its counts when the load's measured window starts and dumps them when it
 * ends, and reports instructions per unit instead of CPU time: a count that
 * does not move with the other work on a shared machine (the proxy is ~50x
 * slower under valgrind, so give it a longer --warmup; its JIT compiles
 * meanwhile). The count covers user space only, every thread of the process.
 */

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { withMallocTrim } from "../src/process/malloc-env.js";
import {
  LOAD_CORE,
  PROXY_CORE,
  cpuSeconds,
  freePort,
  killChildrenOnExit,
  lines,
  pinned,
  seedBenchConfig,
  stopProxy,
  waitForPort,
} from "./processes.js";

const LOAD = join(import.meta.dirname, "load.js");
const BACKEND = join(import.meta.dirname, "echo-backend.js");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
killChildrenOnExit();

type Mode = "upgrades" | "http";
const LOG_FORMATS: Record<string, string> = {
  off: "access_log off;",
  main: `log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log logs/access.log main;`,
  combined: "access_log logs/access.log combined;",
};

function config(listen: number, backend: number, log: string): string {
  return seedBenchConfig(listen, backend, 1, LOG_FORMATS[log]);
}

function option(argv: readonly string[], flag: string, fallback: string): string {
  const at = argv.indexOf(flag);
  return at === -1 ? fallback : (argv[at + 1] ?? fallback);
}

interface Peer {
  readonly name: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** Under callgrind: where its dumps go. */
  readonly callgrind: string | undefined;
  stop(): Promise<string[]>;
}

interface Tools {
  readonly profileDir: string | undefined;
  readonly callgrindDir: string | undefined;
}

async function startPeer(build: string, backend: number, log: string, tools: Tools): Promise<Peer> {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-ab-"));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(join(prefix, "nginx.conf"), config(port, backend, log));
  const globals = "daemon off; master_process off;";
  // "DIR+--flag+--flag": the build started with these Node flags (a V8 heap setting against none).
  const [dir, ...extraFlags] = build.split("+") as [string, ...string[]];
  const nodeFlags = [...extraFlags, ...(tools.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${tools.profileDir}`] : [])];
  const callgrind = build === "nginx" || !tools.callgrindDir ? undefined : mkdtempSync(join(tools.callgrindDir, "cg-"));
  const valgrind = callgrind ? ["valgrind", "--tool=callgrind", `--callgrind-out-file=${callgrind}/out.%p`] : [];
  const argv =
    build === "nginx"
      ? [NGINX!, "-p", prefix + "/", "-c", join(prefix, "nginx.conf"), "-g", globals]
      : [
          ...valgrind,
          process.execPath,
          ...nodeFlags,
          join(resolve(dir), "bin", "wsgate.js"),
          "-p",
          prefix,
          "-c",
          "nginx.conf",
          "-g",
          globals,
        ];
  const env = build === "nginx" ? process.env : withMallocTrim(process.env);
  const child = pinned(PROXY_CORE, argv, "ignore", env);
  const output = lines(child, () => undefined);
  await waitForPort(port, child, build, callgrind ? 180_000 : 10_000);
  return { name: build, port, pid: child.pid, callgrind, stop: () => stopProxy(child, build, prefix, output) };
}

/** callgrind_control on the proxy: "-z" zeroes the counts, "-d" dumps them. */
function callgrindControl(peer: Peer, ...args: string[]): void {
  execFileSync("callgrind_control", [...args, String(peer.pid)], { stdio: "ignore" });
}

/** The instructions in the proxy's latest dump (its `summary:` line). */
function lastDumpInstructions(peer: Peer): number {
  // out.PID.N: the Nth dump of the process.
  const dumps = readdirSync(peer.callgrind!).filter((name) => /^out\.\d+\.\d+$/.test(name));
  const nth = (name: string): number => Number(name.slice(name.lastIndexOf(".") + 1));
  const latest = dumps.sort((a, b) => nth(a) - nth(b)).map((name) => join(peer.callgrind!, name));
  const text = readFileSync(latest[latest.length - 1]!, "latin1");
  return Number(/^summary: (\d+)/m.exec(text)?.[1] ?? NaN);
}

/**
 * One phase against one peer: the proxy's CPU µs over the load's measured window per unit of work;
 * under callgrind, its instructions per unit.
 */
async function measure(peer: Peer, mode: Mode, seconds: string, warmup: string): Promise<number> {
  const child = pinned(LOAD_CORE, [
    process.execPath,
    LOAD,
    mode,
    String(peer.port),
    "backend=raw",
    `seconds=${seconds}`,
    `warmup=${warmup}`,
    "concurrency=50",
  ]);
  let cpu0 = NaN;
  let perUnit = NaN;
  const output = lines(child, (line) => {
    const event = JSON.parse(line) as Record<string, number | string>;
    if (event["event"] === "go") {
      if (peer.callgrind) callgrindControl(peer, "-z");
      cpu0 = cpuSeconds(peer.pid);
    }
    if (event["event"] === "result") {
      const units = Number(mode === "upgrades" ? event["upgrades"] : event["responses"]);
      perUnit = ((cpuSeconds(peer.pid) - cpu0) / units) * 1e6;
      if (peer.callgrind) {
        callgrindControl(peer, "-d");
        perUnit = lastDumpInstructions(peer) / units;
        process.stderr.write(`ab: ${peer.name} ${mode}: ${units} units under callgrind\n`);
      }
      if (Number(event["errors"]) > 0 || Number(event["notOk"] ?? 0) > 0)
        process.stderr.write(`ab: ${peer.name} ${mode}: ${line}\n`);
    }
  });
  const code = await new Promise<number | null>((done) => child.once("exit", done));
  if (Number.isNaN(perUnit)) throw new Error(`load ${mode} failed (exit ${code}): ${output.stderr()}`);
  return perUnit;
}

const unit = (peer: Peer): string => (peer.callgrind ? "instructions" : "µs");

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

async function main(argv: readonly string[]): Promise<void> {
  const builds = option(argv, "--builds", ".").split(",");
  const modes = option(argv, "--only", "upgrades,http").split(",") as Mode[];
  const rounds = Number(option(argv, "--rounds", "3"));
  const seconds = option(argv, "--seconds", "3");
  const warmup = option(argv, "--warmup", "1");
  const log = option(argv, "--access-log", "off");
  if (!(log in LOG_FORMATS)) throw new Error(`--access-log: ${Object.keys(LOG_FORMATS).join(", ")}`);
  const tools: Tools = {
    profileDir: argv.includes("--cpu-prof") ? resolve(option(argv, "--cpu-prof", "profiles")) : undefined,
    callgrindDir: argv.includes("--callgrind") ? resolve(option(argv, "--callgrind", "callgrind")) : undefined,
  };
  if (tools.callgrindDir) mkdirSync(tools.callgrindDir, { recursive: true });
  const backend = pinned(LOAD_CORE, [process.execPath, BACKEND, "0", "raw"]);
  const backendPort = await new Promise<number>((done) =>
    lines(backend, (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (match) done(Number(match[1]));
    }),
  );
  const peers: Peer[] = [];
  for (const build of builds) peers.push(await startPeer(build, backendPort, log, tools));
  const figures = new Map<string, number[]>();
  // A first round that is not counted: a fresh Node process still compiles its hot paths (2-3x the CPU).
  for (const mode of modes) for (const peer of peers) await measure(peer, mode, "1", warmup);
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      for (const peer of peers) {
        const value = await measure(peer, mode, seconds, warmup);
        const key = `${mode}\t${peer.name}`;
        figures.set(key, [...(figures.get(key) ?? []), value]);
        process.stderr.write(`ab: round ${round + 1} ${mode} ${peer.name}: ${value.toFixed(1)} ${unit(peer)}\n`);
      }
    }
  }
  for (const peer of peers) for (const line of await peer.stop()) process.stderr.write(`ab: ${peer.name}: ${line}\n`);
  backend.kill("SIGTERM");
  const what = tools.callgrindDir ? "proxy instructions (callgrind) per unit" : "proxy CPU µs per unit";
  process.stdout.write(`access_log ${log}; ${what}, median (rounds)\n`);
  for (const [key, values] of figures) {
    const spread = values.map((value) => value.toFixed(1)).join(" / ");
    process.stdout.write(`${key}\t${median(values).toFixed(1)}\t(${spread})\n`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`ab: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
