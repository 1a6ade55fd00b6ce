/**
 * h2load (Debian's nghttp2-client) as the HTTP/2 load generator of
 * bench/http2.ts: the arguments of one timed run, and what its output says —
 * the summary it prints (requests done, succeeded, failed; requests/s) and,
 * from its per-request log (`--log-file`: start µs, status, µs until the end
 * of the response, tab-separated), the latency percentiles, which its summary
 * does not give.
 */

import { execFileSync } from "node:child_process";

/** Where h2load is, or undefined (scripts/install-bench-deps.sh installs it). */
export function findH2load(): string | undefined {
  try {
    return execFileSync("bash", ["-c", "command -v h2load"], { encoding: "latin1" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface H2loadRun {
  /** http://… (h2c with prior knowledge, h2load's default) or https://… (h2 by ALPN). */
  readonly url: string;
  readonly clients: number;
  /** Streams in flight per connection (-m). */
  readonly streams: number;
  readonly seconds: number;
  readonly logFile?: string | undefined;
  /** HTTP/1.1 instead (h2load --h1): one request at a time per connection when `streams` is 1. */
  readonly h1?: boolean;
}

/** h2load's arguments for one timed run: one thread, `clients` connections, `streams` requests in flight on each. */
export function h2loadArgs(run: H2loadRun): string[] {
  const args = ["-t", "1", "-c", String(run.clients), "-m", String(run.streams), "-D", String(run.seconds)];
  if (run.h1) args.push("--h1");
  if (run.logFile) args.push("--log-file", run.logFile);
  args.push(run.url);
  return args;
}

export interface H2loadSummary {
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  readonly perSecond: number;
  readonly elapsedS: number;
  /** The protocol h2load says it negotiated ("h2", "h2c"), when it says. */
  readonly protocol: string | undefined;
}

/**
 * h2load's summary, e.g.
 *   finished in 5.00s, 12345.60 req/s, 1.23MB/s
 *   requests: 61728 total, 61828 started, 61728 done, 61728 succeeded, 0 failed, 0 errored, 0 timeout
 *   status codes: 61728 2xx, 0 3xx, 0 4xx, 0 5xx
 * Undefined when the lines are not there (h2load failed before measuring).
 */
export function parseH2loadSummary(text: string): H2loadSummary | undefined {
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(text);
  const requests =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      text,
    );
  const codes = /status codes: (\d+) 2xx/.exec(text);
  if (!finished || !requests) return undefined;
  return {
    done: Number(requests[3]),
    succeeded: Number(requests[4]),
    failed: Number(requests[5]),
    errored: Number(requests[6]),
    timeout: Number(requests[7]),
    status2xx: Number(codes?.[1] ?? NaN),
    perSecond: Number(finished[3]),
    elapsedS: Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1),
    protocol: /Application protocol: (\S+)/.exec(text)?.[1],
  };
}

/** The third column of h2load's --log-file (µs from a request's start to the end of its response), line by line. */
export function durationsFromLog(text: string): Float64Array {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const columns = line.split("\t");
    if (columns.length < 3) continue;
    const us = Number(columns[2]);
    if (Number.isFinite(us)) out.push(us);
  }
  return Float64Array.from(out);
}

/** Nearest-rank percentiles (0–100) of `values`; 0 for none. */
export function percentiles(values: Float64Array, ...ps: number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  return ps.map((p) =>
    sorted.length === 0
      ? 0
      : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!,
  );
}
