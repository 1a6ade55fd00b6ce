/**
 * The HTTP/2 benchmark: the same configuration under Debian's nginx and
 * wsgate (bench/http2-peers.ts), each on core 0 (`taskset -c 0`), the load
 * generator and the raw backend (bench/echo-backend.ts) on core 1, as
 * bench/run.ts does. Both proxies run throughout and each workload goes
 * through one, then the other, so a slow minute of a shared machine lands on
 * both. bench/RESULTS.md ("HTTP/2") has the method and the figures.
 *
 *   node dist/bench/http2.js [--seconds S] [--peers nginx,wsgate] [--only requests,tunnels,idle] [--idle N]
 *
 * requests: h2load (scripts/install-bench-deps.sh) with 10 connections × 10
 *   streams for S seconds, after a 2-second warm-up run, against `return 200`
 *   and a proxied GET (upstream keep-alive), in clear text (h2c, prior
 *   knowledge) and over TLS (h2 by ALPN): requests/s, the proxy's CPU per
 *   request (user+sys of /proc/PID/stat over h2load's run), p50/p99 latency
 *   from h2load's per-request log. The same two requests over HTTP/1.1 (h2load --h1, 100
 *   connections, one request at a time on each) show what HTTP/2 itself costs each proxy.
 * tunnels: 100 WebSockets doing 64-byte round trips for S seconds —
 *   wsgate over HTTP/2 (RFC 8441: 10 connections × 10 extended CONNECT
 *   streams, bench/h2-tunnels.ts), and both proxies over HTTP/1.1 upgrades
 *   (bench/load.ts rtt); nginx has no RFC 8441, so its figure is its
 *   HTTP/1.1 tunnel: round trips/s, the proxy's CPU per round trip, and the
 *   round trips one core of the proxy carries per second.
 * idle: N idle tunnels (--idle, 2000) through a freshly started proxy, over
 *   HTTP/1.1 through both and over RFC 8441 (100 streams a connection)
 *   through wsgate: the proxy's RSS growth per tunnel; then every tunnel
 *   must echo once.
 */

import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { durationsFromLog, findH2load, h2loadArgs, parseH2loadSummary, percentiles } from "./h2load.js";
import { LOAD_CORE, cpuSeconds, killAll, killChildrenOnExit, lines, pinned, statusKb, stop } from "./processes.js";
import { DIST, NGINX, PEERS, startBackend, startProxy, type PeerName, type Ports, type Proxy } from "./http2-peers.js";

const PARTS = ["requests", "tunnels", "idle"] as const;
type Part = (typeof PARTS)[number];

interface Options {
  readonly seconds: number;
  readonly peers: readonly PeerName[];
  readonly only: readonly Part[];
  /** Idle tunnels to open for the memory figure. */
  readonly idle: number;
}

const USAGE =
  "usage: node dist/bench/http2.js [--seconds S] [--peers nginx,wsgate] [--only requests,tunnels,idle] [--idle N]";

function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (flag === "--help" || flag === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    }
    if (!["--seconds", "--peers", "--only", "--idle"].includes(flag))
      throw new Error(`unknown option ${flag}\n${USAGE}`);
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    values.set(flag, value);
  }
  const list = <T extends string>(flag: string, all: readonly T[]): T[] => {
    const items = (values.get(flag) ?? all.join(",")).split(",").map((item) => item.trim()) as T[];
    for (const item of items) if (!all.includes(item)) throw new Error(`${flag}: unknown "${item}"`);
    return items;
  };
  const seconds = Number(values.get("--seconds") ?? 5);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error("--seconds: not a positive number");
  let peers = list("--peers", PEERS);
  if (!NGINX && peers.includes("nginx")) {
    process.stderr.write("bench: no nginx at /usr/sbin/nginx or /usr/bin/nginx; leaving it out\n");
    peers = peers.filter((peer) => peer !== "nginx");
  }
  // A multiple of 100: the RFC 8441 tunnels are opened 100 to a connection.
  const idle = Math.max(100, Math.round(Number(values.get("--idle") ?? 2000) / 100) * 100);
  if (!Number.isFinite(idle)) throw new Error("--idle: not a number");
  return { seconds, peers, only: list("--only", PARTS), idle };
}

// ---------------------------------------------------------------- measurements

/** One measured figure set: the work done, the proxy's CPU over it, latencies. */
export interface Measure {
  readonly count: number;
  readonly perSecond: number;
  readonly proxyCpuS: number;
  /** The measured window's length, for the proxy's share of its core. */
  readonly windowS: number;
  readonly p50us: number;
  readonly p99us: number;
  /** Idle tunnels: the proxy's RSS growth per tunnel, and how many echoed afterwards. */
  readonly kbPerUnit?: number;
  readonly echoed?: number;
  readonly problems: string[];
}

/** What h2load asks for: a URL, over HTTP/2 unless `h1`. */
interface Target {
  readonly url: string;
  readonly h1?: boolean;
}

/** A child's whole run to its exit, with a deadline; its stdout and stderr. */
async function runToExit(child: ChildProcess, deadlineMs: number, onLine: (line: string) => void = () => undefined) {
  let out = "";
  const output = lines(child, (line) => {
    out += line + "\n";
    onLine(line);
  });
  const limit = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(limit);
  return { code, stdout: out, stderr: output.stderr() };
}

/** h2load for `seconds` after a 2-second warm-up run; the proxy's CPU over the measured run only. */
async function h2loadPhase(h2load: string, target: Target, proxy: Proxy, seconds: number): Promise<Measure> {
  const { url, h1 } = target;
  // HTTP/2: 10 connections × 10 streams; HTTP/1.1: 100 connections, one request at a time on each.
  const shape = h1 ? { clients: 100, streams: 1, h1 } : { clients: 10, streams: 10 };
  const run = (runSeconds: number, logFile?: string): ChildProcess =>
    pinned(LOAD_CORE, [h2load, ...h2loadArgs({ url, ...shape, seconds: runSeconds, logFile })]);
  // Two seconds of warm-up: a freshly started wsgate is still compiling its hot paths after one.
  await runToExit(run(2), 60_000);
  const logFile = join(mkdtempSync(join(tmpdir(), "wsgate-bench-h2load-")), "requests.log");
  const cpu0 = cpuSeconds(proxy.pid);
  const done = await runToExit(run(seconds, logFile), (seconds + 60) * 1000);
  const proxyCpuS = cpuSeconds(proxy.pid) - cpu0;
  if (process.env["BENCH_DEBUG"]) process.stderr.write(done.stdout);
  const summary = parseH2loadSummary(done.stdout);
  const durations = existsSync(logFile) ? durationsFromLog(readFileSync(logFile, "latin1")) : new Float64Array();
  rmSync(join(logFile, ".."), { recursive: true, force: true });
  if (!summary) throw new Error(`h2load ${url} gave no summary (exit ${done.code}): ${done.stderr || done.stdout}`);
  const problems: string[] = [];
  const bad = summary.failed + summary.errored + summary.timeout;
  if (bad > 0) problems.push(`${url}: ${bad} requests failed, errored or timed out`);
  // h2load may count a response that ended after the window among the 2xx, never among "done".
  if (summary.done > summary.status2xx) problems.push(`${url}: ${summary.done - summary.status2xx} answers not 2xx`);
  const [p50, p99] = percentiles(durations, 50, 99);
  const windowS = summary.elapsedS;
  return {
    count: summary.succeeded,
    perSecond: summary.perSecond,
    proxyCpuS,
    windowS,
    p50us: p50!,
    p99us: p99!,
    problems,
  };
}

type Json = Record<string, number | string | undefined>;

/** A load process speaking bench/load.ts's protocol ("go", then "result"): the proxy's CPU between the two. */
async function loadPhase(argv: readonly string[], proxy: Proxy, seconds: number): Promise<Measure> {
  let cpu0 = NaN;
  let proxyCpuS = NaN;
  let result: Json | undefined;
  const child = pinned(LOAD_CORE, [process.execPath, ...argv, `seconds=${seconds}`, "warmup=1", "backend=raw"]);
  const done = await runToExit(child, (seconds + 60) * 1000, (line) => {
    const event = JSON.parse(line) as Json;
    if (event["event"] === "go") cpu0 = cpuSeconds(proxy.pid);
    if (event["event"] !== "result") return;
    proxyCpuS = cpuSeconds(proxy.pid) - cpu0;
    result = event;
  });
  if (!result) throw new Error(`${argv[0]} failed (exit ${done.code}): ${done.stderr.trim()}`);
  const problems = ["failed", "mismatches", "errors", "closed", "stalled"]
    .filter((key) => Number(result![key] ?? 0) > 0)
    .map((key) => `${argv[0]}: ${key}=${result![key]}${result!["firstError"] ? ` (${result!["firstError"]})` : ""}`);
  return {
    count: Number(result["trips"]),
    perSecond: Number(result["perSecond"]),
    proxyCpuS,
    windowS: Number(result["elapsedS"]),
    p50us: Number(result["p50us"]),
    p99us: Number(result["p99us"]),
    problems,
  };
}

const NOTHING: Measure = {
  count: NaN,
  perSecond: NaN,
  proxyCpuS: NaN,
  windowS: NaN,
  p50us: NaN,
  p99us: NaN,
  problems: [],
};

/** What is measured, by label, for one peer (a label missing: not measured for that peer). */
type PeerFigures = Map<string, Measure>;

/**
 * Open N idle tunnels through a proxy, its RSS before and 1 s after, then every tunnel must echo
 * once (as bench/run.ts's idle phase): kbPerUnit is the growth per open tunnel.
 */
async function idlePhase(argv: readonly string[], proxy: Proxy): Promise<Measure> {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const rss0 = statusKb(proxy.pid, "VmRSS");
  let rss1 = NaN;
  let opened = 0;
  let result: Json | undefined;
  const child = pinned(LOAD_CORE, [process.execPath, ...argv, "backend=raw"], "pipe");
  child.stdin!.on("error", () => undefined);
  const done = await runToExit(child, 180_000, (line) => {
    const event = JSON.parse(line) as Json;
    if (event["event"] === "opened") {
      opened = Number(event["opened"]);
      // Let the proxy settle before reading its memory, then ask for the echoes.
      setTimeout(() => {
        rss1 = statusKb(proxy.pid, "VmRSS");
        child.stdin!.end("echo\n");
      }, 1000);
    } else if (event["event"] === "result") result = event;
  });
  if (!result) throw new Error(`${argv[0]} idle failed (exit ${done.code}): ${done.stderr.trim()}`);
  const echoed = Number(result["echoed"]);
  const problems = ["failed", "closedWhileIdle", "mismatches"]
    .filter((key) => Number(result![key] ?? 0) > 0)
    .map(
      (key) => `${argv[0]} idle: ${key}=${result![key]}${result!["firstError"] ? ` (${result!["firstError"]})` : ""}`,
    );
  if (echoed < opened) problems.push(`${argv[0]} idle: ${opened - echoed} of ${opened} tunnels did not echo`);
  const kbPerUnit = opened > 0 ? (rss1 - rss0) / opened : NaN;
  return { ...NOTHING, count: opened, kbPerUnit, echoed, problems };
}

/** One workload: a label, and how to measure it through a proxy (undefined: not for this peer). */
interface Workload {
  readonly label: string;
  /** Measured on a freshly started proxy (memory: the workloads before grew its heap). */
  readonly fresh?: boolean;
  /** RFC 8441, which nginx does not have. */
  readonly wsgateOnly?: boolean;
  readonly run: (proxy: Proxy) => Promise<Measure>;
}

function workloads(options: Options, h2load: string | undefined): Workload[] {
  const out: Workload[] = [];
  const { seconds } = options;
  if (options.only.includes("requests") && h2load) {
    const request = (label: string, target: (ports: Ports) => Target): Workload => ({
      label,
      run: (proxy) => h2loadPhase(h2load, target(proxy.ports), proxy, seconds),
    });
    out.push(
      request("h2c return 200", ({ h2c }) => ({ url: `http://127.0.0.1:${h2c}/return` })),
      request("h2c proxied GET", ({ h2c }) => ({ url: `http://127.0.0.1:${h2c}/proxy` })),
      request("h2 (TLS) return 200", ({ tls }) => ({ url: `https://127.0.0.1:${tls}/return` })),
      request("HTTP/1.1 return 200", ({ h1 }) => ({ url: `http://127.0.0.1:${h1}/return`, h1: true })),
      request("HTTP/1.1 proxied GET", ({ h1 }) => ({ url: `http://127.0.0.1:${h1}/proxy`, h1: true })),
    );
  }
  if (options.only.includes("tunnels")) {
    out.push({
      label: "HTTP/1.1 tunnels",
      run: (proxy) =>
        loadPhase([join(DIST, "load.js"), "rtt", String(proxy.ports.h1), "connections=100", "size=64"], proxy, seconds),
    });
    out.push({
      label: "RFC 8441 tunnels",
      wsgateOnly: true,
      run: (proxy) =>
        loadPhase(
          [join(DIST, "h2-tunnels.js"), String(proxy.ports.h2c), "connections=10", "streams=10", "size=64"],
          proxy,
          seconds,
        ),
    });
  }
  if (options.only.includes("idle")) {
    const n = options.idle;
    out.push({
      label: "idle HTTP/1.1 tunnels",
      fresh: true,
      run: (proxy) => idlePhase([join(DIST, "load.js"), "idle", String(proxy.ports.h1), `connections=${n}`], proxy),
    });
    out.push({
      label: "idle RFC 8441 tunnels",
      fresh: true,
      wsgateOnly: true,
      run: (proxy) =>
        idlePhase(
          [join(DIST, "h2-tunnels.js"), String(proxy.ports.h2c), "mode=idle", `connections=${n / 100}`, "streams=100"],
          proxy,
        ),
    });
  }
  return out;
}

/**
 * Every proxy started at once (each on core 0: the one not under load idles), then each workload
 * through each peer in turn, so that a slow minute of a shared machine lands on both alike.
 */
async function benchmark(options: Options, h2load: string | undefined): Promise<Map<PeerName, PeerFigures>> {
  const all = new Map<PeerName, PeerFigures>(options.peers.map((peer) => [peer, new Map()]));
  const backend = await startBackend();
  const proxies = new Map<PeerName, Proxy>();
  const said = new Map<PeerName, string[]>(options.peers.map((peer) => [peer, []]));
  try {
    for (const peer of options.peers) proxies.set(peer, await startProxy(peer, backend.port));
    for (const workload of workloads(options, h2load)) {
      for (const peer of options.peers) {
        if (workload.wsgateOnly && peer !== "wsgate") continue;
        let proxy = proxies.get(peer)!;
        if (workload.fresh) {
          proxies.delete(peer);
          said.get(peer)!.push(...(await proxy.stop()));
          proxy = await startProxy(peer, backend.port);
          proxies.set(peer, proxy);
        }
        process.stderr.write(`bench: ${peer}: ${workload.label}\n`);
        all.get(peer)!.set(workload.label, await workload.run(proxy));
      }
    }
  } finally {
    for (const [peer, proxy] of proxies) said.get(peer)!.push(...(await proxy.stop()));
    // What the proxies said in their error logs or on stderr goes in the report's problems.
    for (const [peer, problems] of said)
      if (problems.length > 0) all.get(peer)!.set("(the proxy's log)", { ...NOTHING, problems });
    await stop(backend.child);
  }
  return all;
}

// ---------------------------------------------------------------- report

const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
const cpuUs = (m: Measure | undefined): number | undefined => (m ? (m.proxyCpuS / m.count) * 1e6 : undefined);

/** One table: per workload, each peer's rate, CPU µs per unit, p50/p99, and wsgate/nginx ratios. */
export function report(all: ReadonlyMap<PeerName, PeerFigures>, options: Options): string {
  const labels = [...new Set([...all.values()].flatMap((figures) => [...figures.keys()]))].filter(
    (label) => !label.startsWith("("),
  );
  const peers = [...all.keys()];
  const header = ["workload", "figure", ...peers, ...(peers.length === 2 ? ["wsgate/nginx"] : [])];
  const rows: string[][] = [];
  const rowsOf: Array<[string, (m: Measure | undefined) => number | undefined, number]> = [
    ["per second", (m) => m?.perSecond, 0],
    ["proxy CPU µs per unit", cpuUs, 1],
    ["per proxy core-second", (m) => 1e6 / (cpuUs(m) ?? NaN), 0],
    ["proxy CPU % of its core", (m) => (m ? (m.proxyCpuS / m.windowS) * 100 : undefined), 0],
    ["p50 latency µs", (m) => m?.p50us, 0],
    ["p99 latency µs", (m) => m?.p99us, 0],
    ["proxy memory KB per idle tunnel", (m) => m?.kbPerUnit, 1],
    ["tunnels echoing afterwards", (m) => m?.echoed, 0],
  ];
  for (const label of labels) {
    for (const [figure, value, digits] of rowsOf) {
      // nginx has no RFC 8441: its HTTP/1.1 tunnel stands beside wsgate's RFC 8441 tunnel.
      const source = (peer: PeerName): Measure | undefined =>
        all.get(peer)!.get(label) ??
        (peer === "nginx" ? all.get(peer)!.get(label.replace("RFC 8441", "HTTP/1.1")) : undefined);
      const cells = peers.map((peer) => fixed(value(source(peer)), digits));
      if (peers.length === 2) {
        const ratio = (value(source("wsgate")) ?? NaN) / (value(source("nginx")) ?? NaN);
        cells.push(Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-");
      }
      if (cells.slice(0, peers.length).some((text) => text !== "-")) rows.push([label, figure, ...cells]);
    }
  }
  const problems = peers.flatMap((peer) =>
    [...all.get(peer)!.values()].flatMap((m) => m.problems.map((line) => `- ${peer}: ${line}`)),
  );
  return [
    `${options.seconds} s per measurement (after 2 s of warm-up for requests, 1 s for tunnels); peers: ${peers.join(", ")}; ` +
      "unit: a request (h2load rows), a 64-byte round trip (tunnel rows); nginx's RFC 8441 row is its HTTP/1.1 tunnel",
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
    "",
    problems.length > 0 ? `Problems seen:\n${problems.join("\n")}` : "Problems seen: none.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  killChildrenOnExit();
  const options = parseOptions(process.argv.slice(2));
  for (const file of ["load.js", "h2-tunnels.js", "echo-backend.js"])
    if (!existsSync(join(DIST, file))) throw new Error(`${join(DIST, file)} is missing: run npx tsc -p .`);
  const h2load = findH2load();
  if (!h2load && options.only.includes("requests"))
    process.stderr.write("bench: no h2load (scripts/install-bench-deps.sh installs it); leaving out the requests\n");
  const started = Date.now();
  const all = await benchmark(options, h2load);
  process.stdout.write(report(all, options));
  process.stderr.write(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

if (process.argv[1]?.endsWith("http2.js")) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    killAll();
    process.exit(1);
  });
}
