/**
 * How evenly the kernel spreads connections over wsgate's workers, now that
 * each worker accepts for itself: a master with two workers, a location
 * answering `$pid`, short HTTP/1.0 connections (one request each), the
 * answers counted per worker; with `--single-accept`, the workers run with
 * libuv's UV_TCP_SINGLE_ACCEPT=1. Also prints the CPU (master and workers)
 * per connection. Not a test: a measurement (bench/RESULTS.md).
 *
 *   node dist/bench/spread.js [--connections 2000] [--concurrency 50] [--single-accept]
 */

import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuSeconds, freePort, killChildrenOnExit, lines, pinned, stopProxy, waitForPort } from "./processes.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? NaN : Number(process.argv[at + 1]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** One request on a connection of its own: the body of the answer (the worker's pid). */
function onePid(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.setEncoding("latin1");
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.once("end", () => resolve(answer.slice(answer.indexOf("\r\n\r\n") + 4)));
    socket.once("error", reject);
    socket.write("GET / HTTP/1.0\r\nHost: spread\r\n\r\n");
  });
}

async function main(): Promise<void> {
  killChildrenOnExit();
  const total = option("--connections", 2000);
  const concurrency = option("--concurrency", 50);
  const singleAccept = process.argv.includes("--single-accept");
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-spread-"));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(
    join(prefix, "nginx.conf"),
    `worker_processes 2;\nevents { worker_connections 4096; }\n` +
      `http { access_log off; server { listen 127.0.0.1:${port}; location / { return 200 $pid; } } }\n`,
  );
  const env = { ...process.env };
  if (singleAccept) env["UV_TCP_SINGLE_ACCEPT"] = "1";
  else delete env["UV_TCP_SINGLE_ACCEPT"];
  const argv = [
    process.execPath,
    join(ROOT, "bin", "wsgate.js"),
    "-p",
    prefix,
    "-c",
    "nginx.conf",
    "-g",
    "daemon off;",
  ];
  const child = pinned("0-1", argv, "ignore", env);
  const output = lines(child, () => undefined);
  await waitForPort(port, child, "wsgate");
  const counts = new Map<string, number>();
  let started = 0;
  const cpuBefore = cpuSeconds(child.pid);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < total) {
        const pid = await onePid(port);
        counts.set(pid, (counts.get(pid) ?? 0) + 1);
      }
    }),
  );
  const cpuUs = ((cpuSeconds(child.pid) - cpuBefore) * 1e6) / total;
  const problems = await stopProxy(child, "wsgate", prefix, output, /\[notice\]/);
  const perWorker = [...counts.values()].join("/");
  process.stdout.write(
    `${total} connections, ${concurrency} at a time${singleAccept ? ", UV_TCP_SINGLE_ACCEPT=1" : ""}: ` +
      `per worker ${perWorker}; CPU µs per connection (master + workers) ${cpuUs.toFixed(0)}\n`,
  );
  if (problems.length > 0) process.stdout.write(`problems: ${problems.join("; ")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`spread: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
