/**
 * The push example under load: start the whole example (Redis, two backends,
 * wsgate) on free ports, hold N idle subscribers of one topic through wsgate
 * (opened in batches, so the ramp is bounded), publish K notifications over
 * HTTP through wsgate one after another, and report
 *   - delivery latency, p50 and p99 over every delivery: from just before the
 *     POST is written to the subscriber's message event in this process;
 *   - the memory each idle subscriber costs: the growth of the resident set
 *     (VmRSS in /proc) of wsgate's processes (master and workers) and of each
 *     backend, from before the first subscriber to after the last, divided
 *     by N.
 * Bounded in time (--time-limit, 180 s by default); everything it started is
 * stopped before it returns.
 *
 *   node dist/examples/push/load.js [--subscribers 5000] [--notifications 20] [--batch 250]
 */

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { startPushCluster, type PushCluster } from "./cluster.js";

export interface LoadOptions {
  readonly subscribers?: number;
  readonly notifications?: number;
  /** Handshakes in flight at once while ramping up. */
  readonly batch?: number;
  /** The whole run, ramp and publishes. */
  readonly timeLimitMs?: number;
}

export interface LoadReport {
  readonly subscribers: number;
  /** Subscribers per backend, from each one's "subscribed" message. */
  readonly perBackend: Readonly<Record<string, number>>;
  readonly rampMs: number;
  readonly notifications: number;
  readonly deliveries: number;
  readonly expectedDeliveries: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The median over the notifications of their first delivery (the path without the fan-out's queue). */
  readonly firstDeliveryMs: number;
  readonly wsgate: MemoryGrowth;
  readonly backends: MemoryGrowth;
}

export interface MemoryGrowth {
  readonly processes: number;
  readonly rssBeforeKiB: number;
  readonly rssAfterKiB: number;
  /** (after − before) / subscribers. */
  readonly perSubscriberKiB: number;
}

const TOPIC = "load";

export async function runPushLoad(options: LoadOptions = {}): Promise<LoadReport> {
  const count = options.subscribers ?? 5000;
  const notifications = options.notifications ?? 20;
  const batch = options.batch ?? 250;
  const deadline = Date.now() + (options.timeLimitMs ?? 180_000);
  const cluster = await startPushCluster();
  const sockets: WebSocket[] = [];
  try {
    const wsgateBefore = rssKiB(wsgatePids(cluster));
    const backendsBefore = rssKiB(cluster.backends.map((b) => b.pid));
    const latencies: number[] = [];
    const firsts: number[] = [];
    let sentAt = new Map<string, number>();
    const perBackend: Record<string, number> = {};
    const rampStart = Date.now();
    while (sockets.length < count) {
      const size = Math.min(batch, count - sockets.length);
      const opened = await Promise.all(
        Array.from({ length: size }, () =>
          subscribe(cluster, deadline, (id) => {
            const start = sentAt.get(id);
            if (start !== undefined) latencies.push(performance.now() - start);
          }),
        ),
      );
      for (const { ws, backend } of opened) {
        sockets.push(ws);
        perBackend[backend] = (perBackend[backend] ?? 0) + 1;
      }
    }
    const rampMs = Date.now() - rampStart;
    // Let the last handshakes' garbage settle before reading the resident sets.
    await sleep(1000);
    const wsgateAfter = rssKiB(wsgatePids(cluster));
    const backendsAfter = rssKiB(cluster.backends.map((b) => b.pid));

    for (let n = 0; n < notifications; n++) {
      const id = `n${n}`;
      sentAt = new Map([[id, performance.now()]]);
      const before = latencies.length;
      const response = await fetch(`${cluster.url}/publish`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ topic: TOPIC, message: id }),
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      });
      await response.arrayBuffer();
      if (response.status !== 202) throw new Error(`POST /publish answered ${response.status}`);
      // The next publish once every subscriber has this one (or 10 s passed).
      const until = Math.min(deadline, Date.now() + 10_000);
      while (latencies.length - before < count && Date.now() < until) await sleep(5);
      if (latencies.length > before) firsts.push(Math.min(...latencies.slice(before)));
    }
    latencies.sort((a, b) => a - b);
    return {
      subscribers: sockets.length,
      perBackend,
      rampMs,
      notifications,
      deliveries: latencies.length,
      expectedDeliveries: notifications * count,
      latencyMs: {
        p50: round(percentile(latencies, 0.5)),
        p99: round(percentile(latencies, 0.99)),
        max: round(latencies.at(-1) ?? NaN),
      },
      firstDeliveryMs: round(
        percentile(
          firsts.sort((a, b) => a - b),
          0.5,
        ),
      ),
      wsgate: growth(wsgatePids(cluster).length, wsgateBefore, wsgateAfter, count),
      backends: growth(cluster.backends.length, backendsBefore, backendsAfter, count),
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await cluster.stop();
  }
}

/** One subscriber of TOPIC: resolves on its "subscribed" message, with the backend that holds it. */
function subscribe(
  cluster: PushCluster,
  deadline: number,
  received: (id: string) => void,
): Promise<{ ws: WebSocket; backend: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${cluster.port}/subscribe?topics=${TOPIC}`);
    const timer = setTimeout(() => fail(new Error("no subscription before the time limit")), deadline - Date.now());
    const fail = (err: Error): void => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.once("error", fail);
    ws.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString("utf8")) as { type: string; backend?: string; message?: string };
      if (message.type === "notification") received(String(message.message));
      else if (message.type === "subscribed") {
        clearTimeout(timer);
        ws.off("error", fail);
        ws.on("error", () => undefined);
        resolve({ ws, backend: message.backend ?? "?" });
      }
    });
  });
}

/** wsgate's master and its workers (the master's children, from /proc/PID/stat). */
function wsgatePids(cluster: PushCluster): number[] {
  const master = cluster.wsgate.pid;
  const children = readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        // The fields after the command name (which may hold spaces) start after its ")".
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === master;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [master, ...children];
}

/** The summed VmRSS of the processes, in KiB. */
function rssKiB(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    total += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  }
  return total;
}

function growth(processes: number, before: number, after: number, subscribers: number): MemoryGrowth {
  return {
    processes,
    rssBeforeKiB: before,
    rssAfterKiB: after,
    perSubscriberKiB: round((after - before) / subscribers),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function option(argv: readonly string[], name: string): number | undefined {
  const index = argv.indexOf(`--${name}`);
  if (index === -1) return undefined;
  const value = Number(argv[index + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes a positive integer`);
  return value;
}

async function main(argv: readonly string[]): Promise<void> {
  const limit = option(argv, "time-limit");
  const report = await runPushLoad({
    subscribers: option(argv, "subscribers"),
    notifications: option(argv, "notifications"),
    batch: option(argv, "batch"),
    timeLimitMs: limit === undefined ? undefined : limit * 1000,
  });
  console.log(JSON.stringify(report, null, 2));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(`push load: ${err.message}`);
    process.exit(1);
  });
}
