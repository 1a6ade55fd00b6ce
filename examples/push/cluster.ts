/**
 * The whole push example as processes: redis-server, two backends (each a
 * Node process of backend.js) and wsgate with this directory's nginx.conf.
 * `npm run example:push` runs it on the fixed ports of nginx.conf in this
 * directory; the tests and the load script run it on free ports in a
 * temporary prefix (the same file with its ports replaced). Everything is
 * started as a child of this process and stopped by its PID.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freeRedisPort, startRedis, type RunningRedis } from "../shared/redis-server.js";
import { stopChild, whenReady } from "../shared/children.js";

/** The repository (this file is compiled to dist/examples/push/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The example's own directory (nginx.conf, html/, logs/). */
export const EXAMPLE = join(ROOT, "examples", "push");
const BACKEND_JS = join(ROOT, "dist", "examples", "push", "backend.js");

/** The ports written in nginx.conf. */
export const CONF_PORTS = { wsgate: 8030, backends: [9201, 9202] as const, redis: 6390 };

export interface ClusterOptions {
  /** Run in examples/push on nginx.conf's own ports (start.ts); otherwise free ports in a temporary prefix. */
  readonly fixedPorts?: boolean;
  /** Where the children's output goes: "inherit" for the start command, "ignore" (kept for errors) otherwise. */
  readonly stdio?: "inherit" | "ignore";
  /** How long each part may take to start (15 s by default). */
  readonly startMs?: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
}

export interface PushCluster {
  /** http://127.0.0.1:PORT of wsgate. */
  readonly url: string;
  readonly port: number;
  readonly prefix: string;
  readonly redis: RunningRedis;
  readonly backends: readonly (ManagedProcess & { readonly port: number })[];
  readonly wsgate: ManagedProcess;
  /** What the children wrote (for a failure's message). */
  output(): string;
  /** wsgate (fast shutdown), the backends, Redis; bounded; removes a temporary prefix. */
  stop(): Promise<void>;
}

export async function startPushCluster(options: ClusterOptions = {}): Promise<PushCluster> {
  const startMs = options.startMs ?? 15_000;
  const fixed = options.fixedPorts === true;
  let output = "";
  const started: ManagedProcess[] = [];
  let redis: RunningRedis | undefined;
  let prefix = EXAMPLE;
  const stop = async (): Promise<void> => {
    // wsgate first (its tunnels close), then the backends, then Redis.
    for (const proc of [...started].reverse()) await stopChild(proc.child, "SIGTERM");
    await redis?.stop();
    if (prefix !== EXAMPLE) rmSync(prefix, { recursive: true, force: true });
  };
  try {
    redis = await startRedis(fixed ? CONF_PORTS.redis : await freeRedisPort(), startMs);
    const backendPorts = fixed ? [...CONF_PORTS.backends] : [await freeRedisPort(), await freeRedisPort()];
    const port = fixed ? CONF_PORTS.wsgate : await freeRedisPort();
    const backends = [];
    for (const [index, backendPort] of backendPorts.entries()) {
      const name = `backend-${index + 1}`;
      const child = spawn(process.execPath, [BACKEND_JS, String(backendPort), redis.url, name], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const proc = { name, child, pid: child.pid!, port: backendPort };
      started.push(proc);
      collect(child, options.stdio, (text) => (output += text));
      await whenReady(child, () => output.includes(`ready ${name} `), startMs, name);
      backends.push(proc);
    }
    if (!fixed) prefix = temporaryPrefix(port, backendPorts);
    mkdirSync(join(prefix, "logs"), { recursive: true });
    const pidFile = join(prefix, "logs", "nginx.pid");
    rmSync(pidFile, { force: true });
    const child = spawn(
      process.execPath,
      [join(ROOT, "bin", "wsgate.js"), "-p", prefix, "-c", "nginx.conf", "-g", "daemon off;"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const wsgate = { name: "wsgate", child, pid: child.pid! };
    started.push(wsgate);
    collect(child, options.stdio, (text) => (output += text));
    // wsgate writes its pid file once every listening socket is bound.
    await whenReady(child, () => existsSync(pidFile), startMs, "wsgate");
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      prefix,
      redis,
      backends,
      wsgate,
      output: () => output,
      stop,
    };
  } catch (err) {
    await stop();
    throw new Error(`the push example did not start: ${(err as Error).message}\n${output}`, { cause: err });
  }
}

/** A copy of nginx.conf and html/ in a fresh directory, on the ports given. */
function temporaryPrefix(port: number, backendPorts: readonly number[]): string {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-push-"));
  let conf = readFileSync(join(EXAMPLE, "nginx.conf"), "utf8").replace(
    `127.0.0.1:${CONF_PORTS.wsgate};`,
    `127.0.0.1:${port};`,
  );
  CONF_PORTS.backends.forEach((confPort, index) => {
    conf = conf.replaceAll(`127.0.0.1:${confPort};`, `127.0.0.1:${backendPorts[index]!};`);
  });
  writeFileSync(join(prefix, "nginx.conf"), conf);
  mkdirSync(join(prefix, "html"));
  copyFileSync(join(EXAMPLE, "html", "index.html"), join(prefix, "html", "index.html"));
  return prefix;
}

function collect(child: ChildProcess, stdio: ClusterOptions["stdio"], sink: (text: string) => void): void {
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (chunk: Buffer) => {
      sink(chunk.toString("utf8"));
      if (stdio === "inherit") (stream === child.stdout ? process.stdout : process.stderr).write(chunk);
    });
  }
}
