/**
 * `npm run bench`: the same workload through each peer (wsgate, Debian's
 * nginx, and "direct" — no proxy — for the latency baseline), the proxy pinned
 * to core 0 and the backend and load generator to core 1. Prints a table; the
 * method and figures go in bench/RESULTS.md.
 *
 *   npm run bench -- [--quick] [--peers wsgate,nginx,direct] [--idle N]
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
const TICKS = 100; // CLK_TCK on Linux

type PeerName = "wsgate" | "nginx" | "direct";

interface Options {
  readonly seconds: number;
  readonly idle: number;
  readonly peers: readonly PeerName[];
}

function parseOptions(argv: readonly string[]): Options {
  const quick = argv.includes("--quick");
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at === -1 ? undefined : argv[at + 1];
  };
  const peers = (value("--peers") ?? "direct,nginx,wsgate").split(",") as PeerName[];
  return {
    seconds: quick ? 2 : 5,
    idle: Number(value("--idle") ?? (quick ? 1000 : 9000)),
    peers: peers.filter((peer) => peer !== "nginx" || NGINX),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || !address) throw new Error("no port");
  return address.port;
}

/** user+sys CPU seconds of a process, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function rssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return Number(match?.[1] ?? 0);
}

/** Start a pinned process; resolve once `ready()` says so (or after a port accepts). */
function pinned(core: number, command: string, args: readonly string[]): ChildProcess {
  // The load and the proxies need many descriptors: raise the soft limit to the hard one.
  return spawn("bash", ["-c", `ulimit -n $(ulimit -Hn); exec taskset -c ${core} "$0" "$@"`, command, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const { connect } = await import("node:net");
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error("process exited early");
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nothing listening on ${port}`);
}

function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

function proxyConfig(prefix: string, listen: number, backend: number): string {
  return `worker_processes 1;
worker_rlimit_nofile 20000;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log error;
events { worker_connections 20000; }
http {
  access_log off;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream websocket { server 127.0.0.1:${backend}; }
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

interface PeerRun {
  readonly port: number;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

async function startPeer(name: PeerName, backend: number): Promise<PeerRun> {
  if (name === "direct") return { port: backend, pid: undefined, stop: async () => undefined };
  const prefix = mkdtempSync(join(tmpdir(), `wsgate-bench-${name}-`));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(join(prefix, "nginx.conf"), proxyConfig(prefix, port, backend));
  const child =
    name === "nginx"
      ? pinned(0, NGINX!, [
          "-p",
          prefix + "/",
          "-c",
          join(prefix, "nginx.conf"),
          "-g",
          "daemon off; master_process off;",
        ])
      : pinned(0, process.execPath, [
          join(ROOT, "bin", "wsgate.js"),
          "-p",
          prefix,
          "-c",
          "nginx.conf",
          "-g",
          "daemon off;",
        ]);
  await waitForPort(port, child);
  return {
    port,
    pid: child.pid,
    stop: async () => {
      await stop(child, "SIGTERM");
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

interface LoadResult {
  readonly [key: string]: number;
}

/** Run one load phase pinned to core 1; returns its JSON and the proxy's CPU seconds meanwhile. */
async function load(
  peer: PeerRun,
  mode: string,
  args: readonly string[],
): Promise<{ result: LoadResult; proxyCpu: number; loadCpu: number }> {
  const before = peer.pid ? cpuSeconds(peer.pid) : 0;
  const child = pinned(1, process.execPath, [
    join(ROOT, "dist", "bench", "load.js"),
    mode,
    String(peer.port),
    "backend=raw",
    ...args,
  ]);
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  let loadCpu = 0;
  const sampler = setInterval(() => {
    try {
      if (child.pid) loadCpu = cpuSeconds(child.pid);
    } catch {
      // exited
    }
  }, 200);
  await new Promise((resolve) => child.once("exit", resolve));
  clearInterval(sampler);
  const proxyCpu = peer.pid ? cpuSeconds(peer.pid) - before : 0;
  const lines = out.trim().split("\n");
  return { result: JSON.parse(lines[lines.length - 1]!) as LoadResult, proxyCpu, loadCpu };
}

/** The idle phase: RSS before and after opening N tunnels, then every one must echo. */
async function idlePhase(
  peer: PeerRun,
  connections: number,
): Promise<{ kbPerConnection: number; opened: number; echoed: number }> {
  const before = peer.pid ? rssKb(peer.pid) : 0;
  const child = pinned(1, process.execPath, [
    join(ROOT, "dist", "bench", "load.js"),
    "idle",
    String(peer.port),
    `connections=${connections}`,
  ]);
  let out = "";
  const opened = new Promise<void>((resolve) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("\n")) resolve();
    });
  });
  await opened;
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let the proxy settle (GC) before measuring
  const after = peer.pid ? rssKb(peer.pid) : 0;
  child.stdin!.write("echo\n");
  await new Promise((resolve) => child.once("exit", resolve));
  const lines = out.trim().split("\n");
  const first = JSON.parse(lines[0]!) as { opened: number };
  const last = JSON.parse(lines[lines.length - 1]!) as { echoed: number };
  return {
    kbPerConnection: first.opened ? (after - before) / first.opened : 0,
    opened: first.opened,
    echoed: last.echoed,
  };
}

async function benchmark(name: PeerName, options: Options): Promise<Record<string, string>> {
  const backendPort = await freePort();
  const backend = pinned(1, process.execPath, [
    join(ROOT, "dist", "bench", "echo-backend.js"),
    String(backendPort),
    "raw",
  ]);
  await waitForPort(backendPort, backend);
  let peer = await startPeer(name, backendPort);
  const s = String(options.seconds);
  try {
    const rtt = await load(peer, "rtt", ["connections=100", "size=64", `seconds=${s}`]);
    const big = await load(peer, "throughput", ["connections=4", "size=16384", "window=8", `seconds=${s}`]);
    const upgrades = await load(peer, "upgrades", ["concurrency=50", `seconds=${s}`]);
    const http = await load(peer, "http", ["concurrency=50", `seconds=${s}`]);
    // Memory is measured on a fresh process: the phases above grew its heap.
    await peer.stop();
    peer = await startPeer(name, backendPort);
    const idle = name === "direct" ? undefined : await idlePhase(peer, options.idle);
    const trips = rtt.result["trips"]!;
    return {
      "round trips/s (64 B, 100 conns)": rtt.result["perSecond"]!.toFixed(0),
      "proxy CPU µs per round trip": name === "direct" ? "-" : ((rtt.proxyCpu / trips) * 1e6).toFixed(1),
      "p50 / p99 RTT µs": `${rtt.result["p50us"]!.toFixed(0)} / ${rtt.result["p99us"]!.toFixed(0)}`,
      "load generator CPU s (rtt phase)": rtt.loadCpu.toFixed(2),
      "MB/s (16 KB frames)": big.result["mbPerSecond"]!.toFixed(0),
      "upgrades/s": upgrades.result["perSecond"]!.toFixed(0),
      "HTTP requests/s": http.result["perSecond"]!.toFixed(0),
      "memory per idle tunnel (KB)": idle ? idle.kbPerConnection.toFixed(1) : "-",
      "idle tunnels echoing afterwards": idle ? `${idle.echoed} / ${idle.opened} of ${options.idle}` : "-",
    };
  } finally {
    await peer.stop();
    await stop(backend);
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const columns: Array<[PeerName, Record<string, string>]> = [];
  for (const peer of options.peers) {
    process.stderr.write(`bench: ${peer}…\n`);
    columns.push([peer, await benchmark(peer, options)]);
  }
  const rows = Object.keys(columns[0]![1]);
  const ratioOf = (row: string): string => {
    const w = columns.find(([name]) => name === "wsgate")?.[1][row];
    const n = columns.find(([name]) => name === "nginx")?.[1][row];
    const a = Number(w?.split(" ")[0]);
    const b = Number(n?.split(" ")[0]);
    return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : "-";
  };
  const header = `| | ${columns.map(([name]) => name).join(" | ")} | wsgate/nginx |`;
  const rule = `|---|${columns.map(() => "---").join("|")}|---|`;
  const body = rows.map(
    (row) => `| ${row} | ${columns.map(([, values]) => values[row]).join(" | ")} | ${ratioOf(row)} |`,
  );
  process.stdout.write([header, rule, ...body].join("\n") + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
