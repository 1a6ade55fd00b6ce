/**
 * Debian's Prometheus server for a test: the binary (not the service) on
 * loopback, with a temporary configuration scraping the given targets every
 * second and a temporary storage directory; queried through its HTTP API;
 * stopped by its PID with a bounded wait, its directory removed.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../support/proxy.js";
import { until, withTimeout } from "../support/wait.js";
import { PROMETHEUS } from "./exposition.js";

export interface PrometheusServer {
  readonly port: number;
  /** An instant query's vector: each result's labels and value. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** What the server wrote (for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

interface QueryAnswer {
  readonly status: string;
  readonly data?: { readonly result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

export async function startPrometheus(job: string, targets: readonly string[]): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ${job}
    static_configs:
      - targets: [${targets.map((t) => `"${t}"`).join(", ")}]
`,
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      try {
        await withTimeout(exited, 10_000, "prometheus's exit");
      } catch {
        child.kill("SIGKILL");
        await withTimeout(exited, 5000, "prometheus's exit after SIGKILL");
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const query = async (expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>> => {
    const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const answer = (await res.json()) as QueryAnswer;
    if (answer.status !== "success") throw new Error(`query ${expr}: ${JSON.stringify(answer)}`);
    return (answer.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };

  try {
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${output}`);
        const res = await fetch(`http://127.0.0.1:${port}/-/ready`, { signal: AbortSignal.timeout(1000) }).catch(
          () => undefined,
        );
        return res?.status === 200;
      },
      20_000,
      "prometheus to be ready",
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, query, output: () => output, stop };
}
