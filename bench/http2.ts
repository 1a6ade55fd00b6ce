/**
 * The HTTP/2 benchmark: the same configuration under Debian's nginx and
 * wsgate, each alone on core 0 (`taskset -c 0`), the load generator and the
 * raw backend (bench/echo-backend.ts) on core 1, as bench/run.ts does.
 * bench/RESULTS.md ("HTTP/2") has the method and the figures.
 *
 *   node dist/bench/http2.js [--seconds S] [--peers nginx,wsgate] [--only requests,tunnels]
 *
 * requests: h2load (scripts/install-bench-deps.sh) with 10 connections × 10
 *   streams for S seconds, after a 1-second warm-up run, against `return 200`
 *   and a proxied GET (upstream keep-alive), in clear text (h2c, prior
 *   knowledge) and over TLS (h2 by ALPN): requests/s, the proxy's CPU per
 *   request (user+sys of /proc/PID/stat over h2load's run), p50/p99 latency
 *   from h2load's per-request log.
 * tunnels: 100 WebSockets doing 64-byte round trips for S seconds —
 *   wsgate over HTTP/2 (RFC 8441: 10 connections × 10 extended CONNECT
 *   streams, bench/h2-tunnels.ts), and both proxies over HTTP/1.1 upgrades
 *   (bench/load.ts rtt); nginx has no RFC 8441, so its figure is its
 *   HTTP/1.1 tunnel: round trips/s, the proxy's CPU per round trip, and the
 *   round trips one core of the proxy carries per second.
 */

import { execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withMallocTrim } from "../src/process/malloc-env.js";
import { durationsFromLog, findH2load, h2loadArgs, parseH2loadSummary, percentiles } from "./h2load.js";
import {
  LOAD_CORE,
  NOFILE,
  PROXY_CORE,
  cpuSeconds,
  exited,
  freePort,
  killAll,
  killChildrenOnExit,
  lines,
  pinned,
  stop,
  waitForPort,
} from "./processes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIST = join(ROOT, "dist", "bench");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
const PEERS = ["nginx", "wsgate"] as const;
type PeerName = (typeof PEERS)[number];
const PARTS = ["requests", "tunnels"] as const;
type Part = (typeof PARTS)[number];

interface Options {
  readonly seconds: number;
  readonly peers: readonly PeerName[];
  readonly only: readonly Part[];
}

const USAGE = "usage: node dist/bench/http2.js [--seconds S] [--peers nginx,wsgate] [--only requests,tunnels]";

function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (flag === "--help" || flag === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    }
    if (!["--seconds", "--peers", "--only"].includes(flag)) throw new Error(`unknown option ${flag}\n${USAGE}`);
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
  return { seconds, peers, only: list("--only", PARTS) };
}

// ---------------------------------------------------------------- the proxies

interface Ports {
  readonly h2c: number;
  readonly h1: number;
  readonly tls: number;
}

/**
 * One server with three addresses: h2c (`listen … http2` on a plain address: prior knowledge),
 * plain HTTP/1.1, and TLS with h2 by ALPN; `return 200`, a proxied GET with upstream keep-alive,
 * and WebSocket upgrades to the backend. Debian's nginx 1.22 predates `http2 on`, so both read the
 * `listen` parameter (wsgate warns that it is deprecated, as nginx 1.28 does).
 */
function http2Config(peer: PeerName, ports: Ports, backend: number, prefix: string): string {
  return `worker_processes 1;
worker_rlimit_nofile ${NOFILE};
pid logs/nginx.pid;
error_log logs/error.log error;
events {
    worker_connections ${NOFILE};
}
http {
    access_log off;
    # nginx's default (1000) ends an HTTP/2 connection every 1000 streams: h2load would count the
    # streams in flight then as failed.
    keepalive_requests 1000000;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
    upstream backend {
        server 127.0.0.1:${backend};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${ports.h2c} http2;
        listen 127.0.0.1:${ports.h1};
        listen 127.0.0.1:${ports.tls} ssl http2;
        ssl_certificate ${join(prefix, "cert.pem")};
        ssl_certificate_key ${join(prefix, "key.pem")};
${peer === "wsgate" ? "        wsgate_http2_websocket on;\n" : ""}        location = /return {
            return 200 "ok\\n";
        }
        location = /proxy {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
`;
}

interface Proxy {
  readonly ports: Ports;
  readonly pid: number | undefined;
  readonly child: ChildProcess;
  /** Stops it; returns its error-log and stderr lines. */
  stop(): Promise<string[]>;
}

async function startProxy(peer: PeerName, backend: number): Promise<Proxy> {
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-bench-h2-${peer}-`));
  mkdirSync(join(prefix, "logs"));
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"],
      ...["-subj", "/CN=localhost", "-keyout", join(prefix, "key.pem"), "-out", join(prefix, "cert.pem")],
    ],
    { stdio: "ignore" },
  );
  const ports = { h2c: await freePort(), h1: await freePort(), tls: await freePort() };
  writeFileSync(join(prefix, "nginx.conf"), http2Config(peer, ports, backend, prefix));
  const globals = "daemon off; master_process off;";
  const argv =
    peer === "nginx"
      ? [NGINX!, "-p", prefix + "/", "-c", join(prefix, "nginx.conf"), "-g", globals]
      : [process.execPath, join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf", "-g", globals];
  const env = peer === "wsgate" ? withMallocTrim(process.env) : process.env;
  const child = pinned(PROXY_CORE, argv, "ignore", env);
  const output = lines(child, () => undefined);
  for (const port of Object.values(ports)) await waitForPort(port, child, peer);
  return {
    ports,
    pid: child.pid,
    child,
    stop: async () => {
      const crashed = exited(child) ? [`${peer} had exited: code ${child.exitCode}, signal ${child.signalCode}`] : [];
      await stop(child, "SIGTERM");
      let log = "";
      try {
        log = readFileSync(join(prefix, "logs", "error.log"), "latin1");
      } catch {
        // no log written
      }
      rmSync(prefix, { recursive: true, force: true });
      // The deprecation warning of `listen … http2` is expected: the configuration has to be 1.22's.
      const said = (log + output.stderr()).split("\n").filter((line) => line.trim() !== "" && !/deprecated/.test(line));
      return [...crashed, ...said];
    },
  };
}

function startBackend(): Promise<{ child: ChildProcess; port: number }> {
  const child = pinned(LOAD_CORE, [process.execPath, join(DIST, "echo-backend.js"), "0", "raw"]);
  return new Promise((resolve, reject) => {
    const output = lines(child, (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once("exit", () => reject(new Error(`backend exited: ${output.stderr()}`)));
  });
}

// ---------------------------------------------------------------- measurements

/** One measured figure set: the work done, the proxy's CPU over it, latencies. */
export interface Measure {
  readonly count: number;
  readonly perSecond: number;
  readonly proxyCpuS: number;
  readonly p50us: number;
  readonly p99us: number;
  readonly problems: string[];
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

/** h2load for `seconds` after a 1-second warm-up run; the proxy's CPU over the measured run only. */
async function h2loadPhase(h2load: string, url: string, proxy: Proxy, seconds: number): Promise<Measure> {
  const run = (runSeconds: number, logFile?: string): ChildProcess =>
    pinned(LOAD_CORE, [h2load, ...h2loadArgs({ url, clients: 10, streams: 10, seconds: runSeconds, logFile })]);
  await runToExit(run(1), 60_000);
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
  if (summary.status2xx !== summary.done) problems.push(`${url}: ${summary.done - summary.status2xx} answers not 2xx`);
  const [p50, p99] = percentiles(durations, 50, 99);
  return { count: summary.succeeded, perSecond: summary.perSecond, proxyCpuS, p50us: p50!, p99us: p99!, problems };
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
    p50us: Number(result["p50us"]),
    p99us: Number(result["p99us"]),
    problems,
  };
}

const NOTHING: Measure = { count: NaN, perSecond: NaN, proxyCpuS: NaN, p50us: NaN, p99us: NaN, problems: [] };

/** What is measured, by label, for one peer (a label missing: not measured for that peer). */
type PeerFigures = Map<string, Measure>;

async function benchmarkPeer(peer: PeerName, options: Options, h2load: string | undefined): Promise<PeerFigures> {
  const figures: PeerFigures = new Map();
  const backend = await startBackend();
  const say = (text: string): boolean => process.stderr.write(`bench: ${peer}: ${text}\n`);
  let proxy: Proxy | undefined;
  const problems: string[] = [];
  try {
    proxy = await startProxy(peer, backend.port);
    const { h2c, h1, tls } = proxy.ports;
    if (options.only.includes("requests") && h2load) {
      for (const [label, url] of [
        ["h2c return 200", `http://127.0.0.1:${h2c}/return`],
        ["h2c proxied GET", `http://127.0.0.1:${h2c}/proxy`],
        ["h2 (TLS) return 200", `https://127.0.0.1:${tls}/return`],
      ] as const) {
        say(label);
        figures.set(label, await h2loadPhase(h2load, url, proxy, options.seconds));
      }
    }
    if (options.only.includes("tunnels")) {
      say("HTTP/1.1 tunnels");
      const h1Args = [join(DIST, "load.js"), "rtt", String(h1), "connections=100", "size=64"];
      figures.set("HTTP/1.1 tunnels", await loadPhase(h1Args, proxy, options.seconds));
      if (peer === "wsgate") {
        say("RFC 8441 tunnels");
        const h2Args = [join(DIST, "h2-tunnels.js"), String(h2c), "connections=10", "streams=10", "size=64"];
        figures.set("RFC 8441 tunnels", await loadPhase(h2Args, proxy, options.seconds));
      }
    }
  } finally {
    if (proxy) problems.push(...(await proxy.stop()));
    await stop(backend.child);
  }
  // What the proxy said in its error log or on stderr goes in the report's problems.
  if (problems.length > 0) figures.set("(the proxy's log)", { ...NOTHING, problems });
  return figures;
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
    ["p50 latency µs", (m) => m?.p50us, 0],
    ["p99 latency µs", (m) => m?.p99us, 0],
  ];
  for (const label of labels) {
    for (const [figure, value, digits] of rowsOf) {
      // nginx has no RFC 8441: its HTTP/1.1 tunnel stands beside wsgate's RFC 8441 tunnel.
      const source = (peer: PeerName): Measure | undefined =>
        all.get(peer)!.get(label) ??
        (label === "RFC 8441 tunnels" && peer === "nginx" ? all.get(peer)!.get("HTTP/1.1 tunnels") : undefined);
      const cells = peers.map((peer) => fixed(value(source(peer)), digits));
      if (peers.length === 2) {
        const ratio = (value(source("wsgate")) ?? NaN) / (value(source("nginx")) ?? NaN);
        cells.push(Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-");
      }
      rows.push([label, figure, ...cells]);
    }
  }
  const problems = peers.flatMap((peer) =>
    [...all.get(peer)!.values()].flatMap((m) => m.problems.map((line) => `- ${peer}: ${line}`)),
  );
  return [
    `${options.seconds} s per measurement (after 1 s of warm-up); peers: ${peers.join(", ")}; ` +
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
  const all = new Map<PeerName, PeerFigures>();
  for (const peer of options.peers) all.set(peer, await benchmarkPeer(peer, options, h2load));
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
