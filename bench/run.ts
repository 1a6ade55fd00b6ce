/**
 * `npm run bench`: the same WebSocket and HTTP workload through each peer —
 * wsgate, Debian's nginx, and "direct" (no proxy: the load generator against
 * the backend, the baseline for added latency) — and one table with a
 * wsgate/nginx column. Each proxy runs alone on core 0 (`taskset -c 0`); the
 * backend and the load generator share core 1. bench/RESULTS.md has the method.
 *
 *   npm run bench -- [--quick] [--only rtt,throughput,upgrades,http,idle] [--peers direct,nginx,wsgate,wsgate-ts]
 *                    [--idle N] [--seconds S] [--warmup S] [--backend ws|raw] [--json FILE]
 *                    [--workers N] [--rounds N]
 *
 * The load phases run in rounds, the peers taking turns (nginx, wsgate, nginx,
 * wsgate, …), and each figure is the round with the median headline figure:
 * on a virtual machine one 5-second window varies by tens of percent, and
 * taking turns keeps a slow minute of the host from landing on one peer only.
 * Every load stops by itself (phases are S seconds after a warm-up; the idle
 * phase has a deadline) and every process started here is stopped by its PID.
 */

import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withMallocTrim } from "../src/process/malloc-env.js";
import {
  LOAD_CORE,
  PROXY_CORE,
  cpuSeconds,
  exited,
  freePort,
  killAll,
  killChildrenOnExit,
  lines,
  pinned,
  anonymousKb,
  seedBenchConfig,
  sleep,
  statusKb,
  stop,
  waitForPort,
  stopProxy,
} from "./processes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LOAD = join(ROOT, "dist", "bench", "load.js");
const BACKEND = join(ROOT, "dist", "bench", "echo-backend.js");
killChildrenOnExit();
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));

const PHASES = ["rtt", "throughput", "upgrades", "http", "idle"] as const;
type Phase = (typeof PHASES)[number];
/** `wsgate-ts`: wsgate with its native tunnel turned off (WSGATE_NATIVE_TUNNEL=off), the TypeScript tunnel. */
const PEERS = ["direct", "nginx", "wsgate", "wsgate-ts"] as const;
type PeerName = (typeof PEERS)[number];
type Backend = "ws" | "raw";

interface Options {
  readonly seconds: number;
  readonly warmup: number;
  readonly idle: number;
  readonly peers: readonly PeerName[];
  readonly only: readonly Phase[];
  readonly backend: Backend;
  readonly json: string | undefined;
  /** With --workers N: master and N workers for both proxies, spread over cores 0..N-1. */
  readonly workers: number | undefined;
  /** How many times the load phases run per peer (the idle phase runs once, in the last round). */
  readonly rounds: number;
}

const USAGE = `usage: node dist/bench/run.js [--quick] [--only ${PHASES.join(",")}] [--peers ${PEERS.join(",")}]
                             [--idle N] [--seconds S] [--warmup S] [--backend ws|raw] [--json FILE]
                             [--workers N] [--rounds N]`;

function parseOptions(argv: readonly string[]): Options {
  const known = new Set([
    "--quick",
    "--only",
    "--peers",
    "--idle",
    "--seconds",
    "--warmup",
    "--backend",
    "--json",
    "--workers",
    "--rounds",
  ]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    }
    if (!known.has(arg)) throw new Error(`unknown option ${arg}\n${USAGE}`);
    if (arg !== "--quick") i++;
  }
  const quick = argv.includes("--quick");
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    if (at === -1) return undefined;
    const v = argv[at + 1];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  const list = <T extends string>(flag: string, all: readonly T[], fallback: readonly T[]): T[] => {
    const text = value(flag);
    if (text === undefined) return [...fallback];
    const items = text.split(",").map((item) => item.trim()) as T[];
    for (const item of items) if (!all.includes(item)) throw new Error(`${flag}: unknown "${item}"`);
    return items;
  };
  const num = (flag: string, fallback: number): number => {
    const n = Number(value(flag) ?? fallback);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a number`);
    return n;
  };
  let peers = list("--peers", PEERS, ["direct", "nginx", "wsgate"]);
  if (!NGINX && peers.includes("nginx")) {
    process.stderr.write("bench: no nginx at /usr/sbin/nginx or /usr/bin/nginx; leaving it out\n");
    peers = peers.filter((peer) => peer !== "nginx");
  }
  const backend = value("--backend") ?? "ws";
  if (backend !== "ws" && backend !== "raw") throw new Error("--backend: ws or raw");
  return {
    seconds: num("--seconds", quick ? 1.5 : 5),
    warmup: num("--warmup", quick ? 0.5 : 1),
    idle: Math.floor(num("--idle", quick ? 1000 : 9000)),
    peers,
    only: list("--only", PHASES, PHASES),
    backend,
    json: value("--json"),
    workers: value("--workers") === undefined ? undefined : Math.max(1, Math.floor(num("--workers", 1))),
    rounds: Math.max(1, Math.floor(num("--rounds", quick ? 1 : 3))),
  };
}

// ---------------------------------------------------------------- peers

interface Proxy {
  readonly port: number;
  readonly pid: number | undefined;
  readonly child: ChildProcess | undefined;
  /** Stops it; returns its error-log and stderr lines. */
  stop(): Promise<string[]>;
}

async function startProxy(name: PeerName, backendPort: number, workers: number | undefined): Promise<Proxy> {
  if (name === "direct") return { port: backendPort, pid: undefined, child: undefined, stop: async () => [] };
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-bench-${name}-`));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(join(prefix, "nginx.conf"), seedBenchConfig(port, backendPort, workers));
  // One process each by default (the per-core comparison); a master and its workers with --workers.
  const globals = workers === undefined ? "daemon off; master_process off;" : "daemon off;";
  const argv =
    name === "nginx"
      ? [NGINX!, "-p", prefix + "/", "-c", join(prefix, "nginx.conf"), "-g", globals]
      : [process.execPath, join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf", "-g", globals];
  // A single wsgate process gets the heap setting its master gives its workers (src/process/malloc-env.ts).
  let env = name === "nginx" ? process.env : withMallocTrim(process.env);
  if (name === "wsgate-ts") env = { ...env, WSGATE_NATIVE_TUNNEL: "off" };
  const child = pinned(workers === undefined || workers === 1 ? PROXY_CORE : `0-${workers - 1}`, argv, "ignore", env);
  const output = lines(child, () => undefined);
  await waitForPort(port, child, name);
  return {
    port,
    pid: child.pid,
    child,
    stop: () => stopProxy(child, name, prefix, output),
  };
}

// ---------------------------------------------------------------- phases

type Json = Record<string, number | string | undefined>;

interface PhaseRun {
  readonly result: Json;
  /** CPU seconds over the measured window (NaN for an absent proxy). */
  readonly proxyCpuS: number;
  readonly backendCpuS: number;
  readonly loadCpuS: number;
  readonly windowS: number;
}

/** One load phase: the load generator pinned to core 1; proxy and backend CPU sampled at "go" and "result". */
async function runPhase(
  mode: Exclude<Phase, "idle">,
  proxy: Proxy,
  backendPid: number | undefined,
  options: Options,
  args: readonly string[],
): Promise<PhaseRun> {
  const child = pinned(LOAD_CORE, [
    process.execPath,
    LOAD,
    mode,
    String(proxy.port),
    `backend=${options.backend}`,
    `seconds=${options.seconds}`,
    `warmup=${options.warmup}`,
    ...args,
  ]);
  let proxy0 = NaN;
  let backend0 = NaN;
  let proxyCpuS = NaN;
  let backendCpuS = NaN;
  let result: Json | undefined;
  const output = lines(child, (line) => {
    const event = JSON.parse(line) as Json;
    if (event["event"] === "go") {
      proxy0 = cpuSeconds(proxy.pid);
      backend0 = cpuSeconds(backendPid);
    } else if (event["event"] === "result") {
      proxyCpuS = cpuSeconds(proxy.pid) - proxy0;
      backendCpuS = cpuSeconds(backendPid) - backend0;
      result = event;
    }
  });
  const limit = setTimeout(() => child.kill("SIGKILL"), (options.seconds + options.warmup + 60) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(limit);
  if (!result) throw new Error(`load ${mode} failed (exit ${code}): ${output.stderr().trim()}`);
  return {
    result,
    proxyCpuS,
    backendCpuS,
    loadCpuS: Number(result["cpuS"]),
    windowS: Number(result["elapsedS"]),
  };
}

interface IdleRun {
  readonly result: Json;
  /** The fresh proxy's resident memory before the tunnels open: memory at rest. */
  readonly rssBeforeKb: number;
  readonly anonymousBeforeKb: number;
  readonly rssAfterKb: number;
  readonly kbPerConnection: number;
}

/** Open N idle WebSockets through a fresh proxy, RSS before and after, then every one must echo once. */
async function runIdle(proxy: Proxy, options: Options): Promise<IdleRun> {
  await sleep(500);
  const rssBeforeKb = statusKb(proxy.pid, "VmRSS");
  const anonymousBeforeKb = anonymousKb(proxy.pid);
  const child = pinned(
    LOAD_CORE,
    [process.execPath, LOAD, "idle", String(proxy.port), `backend=${options.backend}`, `connections=${options.idle}`],
    "pipe",
  );
  let rssAfterKb = NaN;
  let opened = 0;
  let result: Json | undefined;
  const output = lines(child, (line) => {
    const event = JSON.parse(line) as Json;
    if (event["event"] === "opened") {
      opened = Number(event["opened"]);
      // Let the proxy settle (pending callbacks, a GC) before reading its memory, then ask for the echoes.
      void sleep(1000).then(() => {
        rssAfterKb = statusKb(proxy.pid, "VmRSS");
        child.stdin!.end("echo\n");
      });
    } else if (event["event"] === "result") {
      result = event;
    }
  });
  child.stdin!.on("error", () => undefined);
  const limit = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(limit);
  if (!result) throw new Error(`load idle failed (exit ${code}): ${output.stderr().trim()}`);
  return {
    result,
    rssBeforeKb,
    anonymousBeforeKb,
    rssAfterKb,
    kbPerConnection: opened > 0 ? (rssAfterKb - rssBeforeKb) / opened : NaN,
  };
}

interface PeerResults {
  rtt?: PhaseRun;
  throughput?: PhaseRun;
  upgrades?: PhaseRun;
  http?: PhaseRun;
  idle?: IdleRun;
  peakRssKb?: number;
  problems: string[];
}

async function benchmarkPeer(name: PeerName, options: Options): Promise<PeerResults> {
  const out: PeerResults = { problems: [] };
  const backend = pinned(LOAD_CORE, [process.execPath, BACKEND, "0", options.backend]);
  const backendPort = await new Promise<number>((resolve, reject) => {
    const output = lines(backend, (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    backend.once("exit", () => reject(new Error(`backend exited: ${output.stderr()}`)));
  });
  const say = (text: string): boolean => process.stderr.write(`bench: ${name}: ${text}\n`);
  let proxy: Proxy | undefined;
  try {
    const phases = options.only.filter((phase) => phase !== "idle");
    if (phases.length > 0) {
      proxy = await startProxy(name, backendPort, options.workers);
      const args: Record<Exclude<Phase, "idle">, string[]> = {
        rtt: ["connections=100", "size=64"],
        throughput: ["connections=4", "size=16384", "window=8"],
        upgrades: ["concurrency=50"],
        http: ["concurrency=50"],
      };
      for (const phase of phases) {
        say(phase);
        const run = await runPhase(phase, proxy, backend.pid, options, args[phase]);
        out[phase] = run;
        for (const key of ["failed", "mismatches", "stalled", "errors", "closed", "notOk"]) {
          const n = Number(run.result[key] ?? 0);
          if (n > 0)
            out.problems.push(
              `${phase}: ${key}=${n}${run.result["firstError"] ? ` (${run.result["firstError"]})` : ""}`,
            );
        }
        if (proxy.child && exited(proxy.child)) {
          out.problems.push(
            `${phase}: the proxy exited (code ${proxy.child.exitCode}, signal ${proxy.child.signalCode})`,
          );
          out.problems.push(...(await proxy.stop()));
          proxy = await startProxy(name, backendPort, options.workers);
        }
        await sleep(300);
      }
      out.peakRssKb = statusKb(proxy.pid, "VmHWM");
    }
    if (options.only.includes("idle") && name !== "direct") {
      // Memory is measured on a freshly started proxy: the phases above grew its heap.
      if (proxy) out.problems.push(...(await proxy.stop()));
      proxy = await startProxy(name, backendPort, options.workers);
      say(`idle (${options.idle} connections)`);
      const idle = await runIdle(proxy, options);
      out.idle = idle;
      for (const key of ["failed", "closedWhileIdle", "mismatches", "errors"]) {
        const n = Number(idle.result[key] ?? 0);
        if (n > 0)
          out.problems.push(`idle: ${key}=${n}${idle.result["firstError"] ? ` (${idle.result["firstError"]})` : ""}`);
      }
      const missing = Number(idle.result["opened"]) - Number(idle.result["echoed"]);
      if (missing > 0) out.problems.push(`idle: ${missing} of the open connections did not echo`);
      if (proxy.child && exited(proxy.child)) out.problems.push("idle: the proxy exited");
    }
  } finally {
    if (proxy) out.problems.push(...(await proxy.stop()));
    await stop(backend);
  }
  return out;
}

// ---------------------------------------------------------------- report

interface Row {
  readonly label: string;
  readonly value: (peer: PeerResults, all: Map<PeerName, PeerResults>) => number | string | undefined;
  readonly digits?: number;
  /** No wsgate/nginx ratio for this row. */
  readonly noRatio?: boolean;
}

/** The proxy's own CPU µs per unit of work (a round trip, an upgrade, a request): comparable when the load side is the limit. */
const cpuPer = (run: PhaseRun | undefined, count: string): number | undefined =>
  run ? (run.proxyCpuS / Number(run.result[count])) * 1e6 : undefined;
const perTrip = (run: PhaseRun | undefined): number | undefined => cpuPer(run, "trips");

function percentOfCore(cpuS: number, run: PhaseRun): number {
  return (cpuS / run.windowS) * 100;
}

const ROWS: Row[] = [
  { label: "round trips/s (64 B frames, 100 conns)", value: (p) => num(p.rtt?.result["perSecond"]), digits: 0 },
  { label: "proxy CPU µs per round trip", value: (p) => perTrip(p.rtt), digits: 1 },
  { label: "p50 latency µs", value: (p) => num(p.rtt?.result["p50us"]), digits: 0 },
  { label: "p99 latency µs", value: (p) => num(p.rtt?.result["p99us"]), digits: 0 },
  {
    label: "added p99 over direct µs",
    value: (p, all) => {
      const direct = num(all.get("direct")?.rtt?.result["p99us"]);
      const own = num(p.rtt?.result["p99us"]);
      return p === all.get("direct") || direct === undefined || own === undefined ? undefined : own - direct;
    },
    digits: 0,
  },
  {
    label: "MB/s (16 KB frames, 4 conns × 8 in flight)",
    value: (p) => num(p.throughput?.result["mbPerSecond"]),
    digits: 0,
  },
  { label: "upgrades/s (50 at a time)", value: (p) => num(p.upgrades?.result["perSecond"]), digits: 0 },
  { label: "proxy CPU µs per upgrade", value: (p) => cpuPer(p.upgrades, "upgrades"), digits: 1 },
  { label: "HTTP requests/s (50 keep-alive conns)", value: (p) => num(p.http?.result["perSecond"]), digits: 0 },
  { label: "proxy CPU µs per HTTP request", value: (p) => cpuPer(p.http, "responses"), digits: 1 },
  { label: "HTTP p99 latency µs", value: (p) => num(p.http?.result["p99us"]), digits: 0 },
  { label: "memory per idle connection KB", value: (p) => p.idle?.kbPerConnection, digits: 1 },
  {
    label: "idle connections echoing afterwards",
    value: (p) => (p.idle ? `${p.idle.result["echoed"]} / ${p.idle.result["requested"]}` : undefined),
    noRatio: true,
  },
  {
    label: "proxy RSS before → with idle conns MB",
    value: (p) => (p.idle ? `${mb(p.idle.rssBeforeKb)} → ${mb(p.idle.rssAfterKb)}` : undefined),
    noRatio: true,
  },
  {
    label: "resident memory at start (RSS) MB",
    value: (p) => (p.idle ? p.idle.rssBeforeKb / 1024 : undefined),
    digits: 1,
  },
  {
    label: "its own memory at start (anonymous pages) MB",
    value: (p) => (p.idle ? p.idle.anonymousBeforeKb / 1024 : undefined),
    digits: 1,
  },
  { label: "proxy peak RSS after the load phases MB", value: (p) => (p.peakRssKb ?? NaN) / 1024, digits: 1 },
];

const mb = (kb: number): string => (kb / 1024).toFixed(1);

function num(value: number | string | undefined): number | undefined {
  const n = Number(value);
  return value === undefined || !Number.isFinite(n) ? undefined : n;
}

function cell(value: number | string | undefined, digits = 0): string {
  if (value === undefined) return "-";
  if (typeof value === "string") return value;
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

function report(all: Map<PeerName, PeerResults>, options: Options): string {
  const peers = [...all.keys()];
  const compared = all.has("nginx") ? peers.filter((peer) => peer.startsWith("wsgate")) : [];
  const header = ["", ...peers, ...compared.map((peer) => `${peer}/nginx`)];
  const main = ROWS.map((row) => {
    const values = peers.map((peer) => row.value(all.get(peer)!, all));
    const cells = values.map((value) => cell(value, row.digits));
    const nginx = all.get("nginx");
    const n = nginx ? row.value(nginx, all) : undefined;
    for (const peer of compared) {
      const w = row.value(all.get(peer)!, all);
      cells.push(
        !row.noRatio && typeof w === "number" && typeof n === "number" && Number.isFinite(w / n) && n !== 0
          ? `${(w / n).toFixed(2)}x`
          : "-",
      );
    }
    return [row.label, ...cells];
  }).filter((row) => row.slice(1).some((c) => c !== "-"));

  const usage: string[][] = [];
  for (const phase of PHASES) {
    if (phase === "idle") continue;
    if (!peers.some((peer) => all.get(peer)![phase])) continue;
    usage.push([
      `${phase}: proxy (core 0)`,
      ...peers.map((peer) => {
        const run = all.get(peer)![phase];
        return run && Number.isFinite(run.proxyCpuS) ? cell(percentOfCore(run.proxyCpuS, run)) : "-";
      }),
    ]);
    usage.push([
      `${phase}: load generator + backend (core 1)`,
      ...peers.map((peer) => {
        const run = all.get(peer)![phase];
        if (!run) return "-";
        const load = percentOfCore(run.loadCpuS, run);
        const backend = percentOfCore(run.backendCpuS, run);
        return `${load.toFixed(0)} + ${backend.toFixed(0)} = ${(load + backend).toFixed(0)}`;
      }),
    ]);
  }

  const problems = peers.flatMap((peer) => all.get(peer)!.problems.map((line) => `- ${peer}: ${line}`));
  return [
    `backend: ${options.backend}; ${options.seconds} s per phase after ${options.warmup} s of warm-up; ` +
      `idle: ${options.idle} connections; peers: ${peers.join(", ")}; ` +
      (options.workers === undefined ? "one process each" : `master + ${options.workers} workers each`) +
      (options.rounds > 1 ? `; median of ${options.rounds} rounds, the peers taking turns` : ""),
    "",
    table(header, main),
    "",
    "CPU use over each measured window, % of one core:",
    "",
    table(["", ...peers], usage),
    "",
    problems.length > 0 ? `Problems seen:\n${problems.join("\n")}` : "Problems seen: none.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const file of [LOAD, BACKEND]) if (!existsSync(file)) throw new Error(`${file} is missing: run npx tsc -p .`);
  const started = Date.now();
  const rounds: Map<PeerName, PeerResults>[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    // The idle phase needs a fresh proxy and takes long: it runs once, in the last round.
    const only = round === options.rounds ? options.only : options.only.filter((phase) => phase !== "idle");
    if (only.length === 0) continue;
    if (options.rounds > 1) process.stderr.write(`bench: round ${round} of ${options.rounds}\n`);
    const all = new Map<PeerName, PeerResults>();
    for (const peer of options.peers) all.set(peer, await benchmarkPeer(peer, { ...options, only }));
    rounds.push(all);
  }
  const all = new Map(options.peers.map((peer) => [peer, medianOfRounds(rounds.map((round) => round.get(peer)!))]));
  process.stdout.write(report(all, options));
  process.stderr.write(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (options.json)
    writeFileSync(
      options.json,
      JSON.stringify({ options, results: Object.fromEntries(all), rounds: rounds.map(Object.fromEntries) }, null, 2),
    );
}

/** The figure a phase's median round is chosen by: the proxy's own CPU per trip for small frames, else the rate. */
const HEADLINE: Record<Exclude<Phase, "idle">, (run: PhaseRun) => number> = {
  rtt: (run) => perTrip(run) ?? NaN,
  throughput: (run) => Number(run.result["mbPerSecond"]),
  upgrades: (run) => Number(run.result["perSecond"]),
  http: (run) => Number(run.result["perSecond"]),
};

/** One peer's results over the rounds: per phase the median round (whole, so its CPU split stays its own). */
function medianOfRounds(rounds: readonly PeerResults[]): PeerResults {
  const out: PeerResults = { problems: rounds.flatMap((round) => round.problems) };
  for (const phase of ["rtt", "throughput", "upgrades", "http"] as const) {
    const runs = rounds.flatMap((round) => (round[phase] ? [round[phase]] : []));
    const headline = HEADLINE[phase];
    runs.sort((a, b) => headline(a) - headline(b));
    if (runs.length > 0) out[phase] = runs[Math.floor((runs.length - 1) / 2)];
  }
  const peaks = rounds.flatMap((round) => (round.peakRssKb === undefined ? [] : [round.peakRssKb]));
  if (peaks.length > 0) out.peakRssKb = Math.max(...peaks);
  out.idle = rounds.find((round) => round.idle)?.idle;
  return out;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  killAll();
  process.exit(1);
});
