/**
 * Live JavaScript heap per idle tunnel, by constructor (RESULTS.md, "What a tunnel keeps"):
 *
 *   node dist/bench/heap-tunnels.js [--tunnels 2000] [--warm 50]
 *
 * Two fresh wsgate processes (one process each, the bench's configuration, `access_log off`), one
 * holding `warm` tunnels and one holding `warm + tunnels`, each written out as a heap snapshot
 * (--heapsnapshot-signal, which collects garbage first); the difference divided by `tunnels`. The
 * warm tunnels are in both, so code compiled for the first tunnels does not count as per tunnel.
 * WSGATE_NATIVE_TUNNEL=off in the environment measures the TypeScript tunnel. A measurement, not a
 * test: it asserts nothing.
 */

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, sleep, stop, waitForPort } from "./processes.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Math.floor(Number(process.argv[at + 1]));
}

/** A backend that answers every request with a 101 and then holds the connection. */
async function startBackend(): Promise<Server> {
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    socket.once("data", () => socket.write(SWITCH));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

function config(port: number, backend: number): string {
  return `worker_processes 1; error_log logs/error.log; pid logs/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream websocket { server 127.0.0.1:${backend}; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://websocket; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
    }
  }
}
`;
}

/** Heap bytes and object counts by constructor ("closure" and "(array)" for the engine's own kinds). */
type Summary = Map<string, { count: number; bytes: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function summarize(file: string): Summary {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((field) => fields.indexOf(field));
  const summary: Summary = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt!]!]!;
    const key = type === "object" ? snap.strings[snap.nodes[i + nameAt!]!]! : `(${type})`;
    const entry = summary.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + sizeAt!]!;
    summary.set(key, entry);
  }
  return summary;
}

/** A fresh wsgate holding `count` idle tunnels, written out as a heap snapshot. */
async function snapshotWith(count: number, backend: number): Promise<Summary> {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-heap-"));
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(join(prefix, "nginx.conf"), config(port, backend));
  const argv = ["--heapsnapshot-signal=SIGUSR2", join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf"];
  const child = spawn(process.execPath, [...argv, "-g", "daemon off; master_process off;"], {
    cwd: prefix,
    stdio: "ignore",
  });
  const sockets: Socket[] = [];
  try {
    await waitForPort(port, child, "wsgate");
    for (let i = 0; i < count; i++) sockets.push(await openTunnel(port));
    await sleep(1000);
    child.kill("SIGUSR2");
    const file = await writtenSnapshot(prefix);
    return summarize(file);
  } finally {
    for (const socket of sockets) socket.destroy();
    await stop(child);
    rmSync(prefix, { recursive: true, force: true });
  }
}

async function openTunnel(port: number): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(
    "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nUser-Agent: bench\r\n\r\n",
  );
  const [head] = (await new Promise((resolve) => socket.once("data", (...args) => resolve(args)))) as [Buffer];
  if (!head.toString("latin1").startsWith("HTTP/1.1 101")) throw new Error(`no 101: ${head.toString("latin1")}`);
  return socket;
}

/** The snapshot file once its size stops changing. */
async function writtenSnapshot(prefix: string): Promise<string> {
  for (let waited = 0; waited < 120_000; waited += 500) {
    await sleep(500);
    const name = readdirSync(prefix).find((file) => file.endsWith(".heapsnapshot"));
    if (name === undefined) continue;
    const file = join(prefix, name);
    const size = statSync(file).size;
    await sleep(1000);
    if (size > 0 && statSync(file).size === size) return file;
  }
  throw new Error("no heap snapshot written");
}

const tunnels = option("--tunnels", 2000);
const warm = option("--warm", 50);
const backend = await startBackend();
const address = backend.address();
if (address === null || typeof address === "string") throw new Error("no backend port");
const base = await snapshotWith(warm, address.port);
const held = await snapshotWith(warm + tunnels, address.port);
backend.close();
const rows = [...held].map(([name, entry]) => {
  const before = base.get(name) ?? { count: 0, bytes: 0 };
  return { name, count: (entry.count - before.count) / tunnels, bytes: (entry.bytes - before.bytes) / tunnels };
});
const total = rows.reduce((sum, row) => sum + row.bytes, 0);
const path = process.env.WSGATE_NATIVE_TUNNEL === "off" ? "TypeScript tunnel" : "native tunnel where built";
console.log(`live heap per idle tunnel (${path}, ${tunnels} tunnels, ${warm} warm): ${(total / 1024).toFixed(2)} KB`);
for (const row of rows.sort((a, b) => b.bytes - a.bytes).filter((row) => Math.abs(row.bytes) >= 16)) {
  console.log(`${row.name.padEnd(32)} ${row.count.toFixed(2).padStart(7)} ${row.bytes.toFixed(0).padStart(6)} B`);
}
