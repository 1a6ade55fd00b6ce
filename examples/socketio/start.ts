/**
 * The Socket.IO example in one command (npm run example:socketio): Redis on
 * loopback, two Socket.IO servers (server.ts) on 127.0.0.1:3001 and 3002,
 * and wsgate on 3000 with examples/socketio/nginx.conf, Socket.IO's own
 * nginx configuration. SIGINT or SIGTERM stops all of them.
 * spawnSocketIoServer() is also how the tests start the servers.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { redisMissing, startRedis } from "../shared/redis-server.js";

/** The repository (this file is compiled to dist/examples/socketio/). */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const EXAMPLE_DIR = join(ROOT, "examples", "socketio");
const SERVER_JS = fileURLToPath(new URL("./server.js", import.meta.url));

export interface SpawnedServer {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** server.js as its own process; resolves once it printed "listening" (rejects if it exits or takes `startMs`). */
export async function spawnSocketIoServer(
  name: string,
  port: number,
  redisUrl: string,
  startMs = 15_000,
): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [SERVER_JS, "--port", String(port), "--name", name, "--redis", redisUrl], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not start within ${startMs} ms`), startMs);
    function fail(why: string): void {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`Socket.IO server ${name} on port ${port} ${why}: ${output.trim()}`));
    }
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`listening ${name} `)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => fail(`exited (${String(code)})`));
  });
  return {
    name,
    port,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function main(): Promise<void> {
  const missing = redisMissing();
  if (missing) throw new Error(missing);
  const redis = await startRedis();
  const stops: Array<() => Promise<void>> = [() => redis.stop()];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    for (const [name, port] of [
      ["a", 3001],
      ["b", 3002],
    ] as const) {
      const server = await spawnSocketIoServer(name, port, redis.url);
      stops.push(() => server.stop());
      server.child.stderr!.pipe(process.stderr);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const wsgate = spawn(
    process.execPath,
    [join(ROOT, "bin", "wsgate.js"), "-p", EXAMPLE_DIR + "/", "-c", "nginx.conf", "-g", "daemon off;"],
    { stdio: "inherit" },
  );
  const wsgateExited = new Promise<void>((resolve) => wsgate.once("exit", () => resolve()));
  stops.push(async () => {
    if (wsgate.exitCode === null && wsgate.signalCode === null) wsgate.kill("SIGTERM");
    await wsgateExited;
  });
  console.log(`redis on ${redis.url}, Socket.IO servers a on :3001 and b on :3002, wsgate on http://127.0.0.1:3000/`);
  console.log("try: node dist/examples/socketio/client.js (any socket.io-client on http://127.0.0.1:3000/chat)");
  await Promise.race([
    wsgateExited,
    new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    }),
  ]);
  await stopAll();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
