/**
 * What the WebSocket features cost: the plain tunnel against one with
 * `wsgate_ping` and the $wsgate_ message counters on (frames followed, the
 * protocol checks on, counts kept), and against one whose configuration has a
 * `wsgate_metrics` location (every tunnel follows frames and counts its
 * messages for the metrics), in the same run, on the same machine.
 *
 *   node dist/bench/ws-features.js [--seconds S] [--rounds N] [--idle N]
 *
 * - CPU per 64-byte round trip: 100 connections in a closed loop (bench/load.ts
 *   `rtt`) through each proxy in turn, plain and featured taking turns for N
 *   rounds; the proxy's user+sys time over the window divided by the round
 *   trips; the median round of each.
 * - Memory per idle tunnel: a fresh proxy of each kind, VmRSS before and 1 s
 *   after opening N idle tunnels, divided by N; then every tunnel must echo.
 *
 * As bench/run.ts: the proxy alone on core 0, the `ws` echo backend (it sends
 * unmasked frames, as a server must: the protocol checks are on) and the load
 * generator on core 1; every process started here is stopped by its PID.
 */

import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withMallocTrim } from "../src/process/malloc-env.js";
import {
  LOAD_CORE,
  NOFILE,
  PROXY_CORE,
  cpuSeconds,
  freePort,
  killChildrenOnExit,
  lines,
  pinned,
  sleep,
  statusKb,
  stop,
  stopProxy,
  waitForPort,
} from "./processes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LOAD = join(ROOT, "dist", "bench", "load.js");
const BACKEND = join(ROOT, "dist", "bench", "echo-backend.js");
killChildrenOnExit();

type Kind = "plain" | "featured" | "metrics";
const KINDS = ["plain", "featured", "metrics"] as const;

const FEATURES = `
        wsgate_ping 30s 10s;
        access_log logs/ws.log counts;`;

function config(listen: number, backend: number, kind: Kind): string {
  return `pid logs/nginx.pid;
worker_rlimit_nofile ${NOFILE};
error_log logs/error.log error;
events { worker_connections ${NOFILE}; }
http {
    access_log off;
    log_format counts '$remote_addr $wsgate_messages_from_client $wsgate_messages_from_upstream '
                      '$wsgate_bytes_from_client $wsgate_bytes_from_upstream $wsgate_close_code $wsgate_closed_by';
    server {
        listen 127.0.0.1:${listen};
        location / {
            proxy_pass http://127.0.0.1:${backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";${kind === "featured" ? FEATURES : ""}
        }${kind === "metrics" ? "\n        location = /metrics { wsgate_metrics; }" : ""}
    }
}
`;
}

interface Proxy {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<string[]>;
}

async function startProxy(kind: Kind, backend: number): Promise<Proxy> {
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-bench-${kind}-`));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(join(prefix, "nginx.conf"), config(port, backend, kind));
  const argv = [process.execPath, join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf"];
  const child = pinned(
    PROXY_CORE,
    [...argv, "-g", "daemon off; master_process off;"],
    "ignore",
    withMallocTrim(process.env),
  );
  const output = lines(child, () => undefined);
  await waitForPort(port, child, kind);
  return { port, child, stop: () => stopProxy(child, kind, prefix, output) };
}

type Json = Record<string, number | string | undefined>;

/** One load process; its "result" event, with the proxy's CPU seconds between "go" and "result". */
async function load(
  proxy: Proxy,
  args: readonly string[],
  onLine?: (event: Json, child: ChildProcess) => void,
): Promise<Json> {
  const child = pinned(
    LOAD_CORE,
    [process.execPath, LOAD, ...args.slice(0, 1), String(proxy.port), ...args.slice(1)],
    "pipe",
  );
  let cpu0 = NaN;
  let result: Json | undefined;
  const output = lines(child, (line) => {
    const event = JSON.parse(line) as Json;
    if (event["event"] === "go") cpu0 = cpuSeconds(proxy.child.pid);
    else if (event["event"] === "result") result = { ...event, proxyCpuS: cpuSeconds(proxy.child.pid) - cpu0 };
    onLine?.(event, child);
  });
  child.stdin!.on("error", () => undefined);
  const limit = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(limit);
  if (!result) throw new Error(`load ${args[0]} failed (exit ${code}): ${output.stderr().trim()}`);
  return result;
}

async function rttRound(
  proxy: Proxy,
  seconds: number,
): Promise<{ usPerTrip: number; perSecond: number; problems: number }> {
  const result = await load(proxy, [
    "rtt",
    "backend=ws",
    `seconds=${seconds}`,
    "warmup=1",
    "connections=100",
    "size=64",
  ]);
  const trips = Number(result["trips"]);
  const problems = ["failed", "mismatches", "stalled", "errors", "closed"].reduce(
    (n, key) => n + Number(result[key] ?? 0),
    0,
  );
  return { usPerTrip: (Number(result["proxyCpuS"]) * 1e6) / trips, perSecond: Number(result["perSecond"]), problems };
}

async function idleRun(proxy: Proxy, count: number): Promise<{ kbPerTunnel: number; echoed: number; opened: number }> {
  await sleep(500);
  const before = statusKb(proxy.child.pid, "VmRSS");
  let after = NaN;
  const result = await load(proxy, ["idle", "backend=ws", `connections=${count}`], (event, child) => {
    if (event["event"] !== "opened") return;
    void sleep(1000).then(() => {
      after = statusKb(proxy.child.pid, "VmRSS");
      child.stdin!.end("echo\n");
    });
  });
  const opened = Number(result["opened"]);
  return { kbPerTunnel: (after - before) / opened, echoed: Number(result["echoed"]), opened };
}

/** The messages the metrics counted each way, as /metrics says (the counting was on). */
async function countedMessages(proxy: Proxy): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${proxy.port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return [...text.matchAll(/^wsgate_websocket_messages_total\{direction="(\w+)"\} (\d+)$/gm)]
    .map((m) => `${m[1]} ${m[2]}`)
    .join(", ");
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const at = argv.indexOf(name);
    return at === -1 ? fallback : Number(argv[at + 1]);
  };
  const seconds = option("--seconds", 3);
  const rounds = option("--rounds", 3);
  const idleCount = option("--idle", 2000);
  const backend = pinned(LOAD_CORE, [process.execPath, BACKEND, "0", "ws"]);
  const backendPort = await new Promise<number>((resolve, reject) => {
    lines(backend, (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    backend.once("exit", () => reject(new Error("the backend exited")));
  });
  const say = (text: string): boolean => process.stderr.write(`ws-features: ${text}\n`);
  try {
    const rtt: Record<Kind, Array<{ usPerTrip: number; perSecond: number; problems: number }>> = {
      plain: [],
      featured: [],
      metrics: [],
    };
    for (let round = 0; round < rounds; round++) {
      for (const kind of KINDS) {
        const proxy = await startProxy(kind, backendPort);
        const run = await rttRound(proxy, seconds);
        rtt[kind].push(run);
        say(`round ${round + 1} ${kind}: ${run.usPerTrip.toFixed(1)} µs/trip, ${run.perSecond.toFixed(0)} trips/s`);
        if (kind === "metrics") say(`metrics counted: ${await countedMessages(proxy)}`);
        const said = await proxy.stop();
        if (said.length > 0) say(`${kind} said: ${said.join(" | ")}`);
      }
    }
    const idle: Partial<Record<Kind, { kbPerTunnel: number; echoed: number; opened: number }>> = {};
    for (const kind of KINDS) {
      const proxy = await startProxy(kind, backendPort);
      idle[kind] = await idleRun(proxy, idleCount);
      say(
        `idle ${kind}: ${idle[kind].kbPerTunnel.toFixed(2)} KB/tunnel (${idle[kind].echoed}/${idle[kind].opened} echoed)`,
      );
      await proxy.stop();
    }
    const plain = median(rtt.plain.map((r) => r.usPerTrip));
    const featured = median(rtt.featured.map((r) => r.usPerTrip));
    const counted = median(rtt.metrics.map((r) => r.usPerTrip));
    process.stdout.write(
      JSON.stringify(
        {
          rounds,
          seconds,
          usPerTrip: { plain, featured, ratio: featured / plain, metrics: counted, metricsRatio: counted / plain },
          rounds_us: {
            plain: rtt.plain.map((r) => r.usPerTrip),
            featured: rtt.featured.map((r) => r.usPerTrip),
            metrics: rtt.metrics.map((r) => r.usPerTrip),
          },
          problems: {
            plain: rtt.plain.map((r) => r.problems),
            featured: rtt.featured.map((r) => r.problems),
            metrics: rtt.metrics.map((r) => r.problems),
          },
          idle,
        },
        null,
        2,
      ) + "\n",
    );
  } finally {
    await stop(backend);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`ws-features: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
