/**
 * Everything the chat example runs, started in order and stopped together:
 * redis-server on loopback, two backend processes, and wsgate with the
 * example's nginx.conf in a fresh run directory (the conf with its ports
 * changed where asked, the generated key file chat-keys.json, logs/, and the
 * page's html/ linked in). Used by start.ts (one command) and by the tests.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, type RunningRedis } from "../shared/redis-server.js";
import { accepts } from "../shared/ports.js";
import { stopChild, whenReady } from "../shared/children.js";

/** The project root, from dist/examples/chat/. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const CHAT_DIR = join(ROOT, "examples", "chat");
const BACKEND_JS = join(ROOT, "dist", "examples", "chat", "backend.js");
const WSGATE_JS = join(ROOT, "bin", "wsgate.js");
/** The ports written in examples/chat/nginx.conf. */
const CONF_PORT = 8030;
const CONF_BACKENDS = [9201, 9202] as const;

export interface ChatOptions {
  readonly port?: number;
  /** Two ports, one per backend. */
  readonly backendPorts?: readonly [number, number];
  readonly redisPort?: number;
  readonly startMs?: number;
}

export interface RunningBackend {
  readonly id: string;
  readonly port: number;
  /** The current process (a new one after restart()). */
  readonly child: ChildProcess;
  /** Kill it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Start it again on its port (after kill()); resolves once it listens. */
  restart(): Promise<void>;
}

export interface RunningChat {
  readonly url: string;
  readonly port: number;
  readonly runDir: string;
  readonly redis: RunningRedis;
  readonly backends: readonly RunningBackend[];
  readonly wsgate: ChildProcess;
  /** What wsgate's access log holds so far. */
  accessLog(): string;
  /** What wsgate's error log holds so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

export async function startChat(options: ChatOptions = {}): Promise<RunningChat> {
  const port = options.port ?? CONF_PORT;
  const backendPorts = options.backendPorts ?? CONF_BACKENDS;
  const startMs = options.startMs ?? 10_000;
  const secret = randomBytes(32);
  const runDir = mkdtempSync(join(tmpdir(), "wsgate-chat-"));
  const started: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    const redis = await startRedis(options.redisPort, startMs);
    started.push(() => redis.stop());
    const backends = backendPorts.map((backendPort, i) => {
      const backend = spawnBackend(String.fromCharCode(97 + i), backendPort, redis.url, secret, startMs);
      started.push(() => backend.kill());
      return backend;
    });
    for (const backend of backends)
      await whenReady(backend.child, () => accepts(backend.port), startMs, `backend ${backend.id}`);
    writeRunDir(runDir, port, backendPorts, secret);
    const wsgate = spawn(process.execPath, [WSGATE_JS, "-p", runDir, "-c", "nginx.conf", "-g", "daemon off;"], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    started.push(() => stopChild(wsgate, "SIGQUIT", 3000));
    await whenReady(wsgate, () => accepts(port), startMs, "wsgate");
    return {
      url: `http://127.0.0.1:${port}/`,
      port,
      runDir,
      redis,
      backends,
      wsgate,
      accessLog: () => readIfThere(join(runDir, "logs", "access.log")),
      errorLog: () => readIfThere(join(runDir, "logs", "error.log")),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The conf with its ports changed, the key file, logs/, mime.types and a link to the page. */
function writeRunDir(runDir: string, port: number, backendPorts: readonly number[], secret: Buffer): void {
  let conf = readFileSync(join(CHAT_DIR, "nginx.conf"), "utf8").replaceAll(String(CONF_PORT), String(port));
  CONF_BACKENDS.forEach((confPort, i) => {
    conf = conf.replaceAll(`127.0.0.1:${confPort};`, `127.0.0.1:${backendPorts[i]};`);
    conf = conf.replaceAll(`127.0.0.1:${confPort} `, `127.0.0.1:${backendPorts[i]} `);
  });
  writeFileSync(join(runDir, "nginx.conf"), conf);
  const jwks = { keys: [{ kty: "oct", kid: "chat", alg: "HS256", k: secret.toString("base64url") }] };
  writeFileSync(join(runDir, "chat-keys.json"), JSON.stringify(jwks, null, 2) + "\n", { mode: 0o600 });
  copyFileSync(join(CHAT_DIR, "mime.types"), join(runDir, "mime.types"));
  mkdirSync(join(runDir, "logs"));
  symlinkSync(join(CHAT_DIR, "html"), join(runDir, "html"));
}

function spawnBackend(id: string, port: number, redisUrl: string, secret: Buffer, startMs: number): RunningBackend {
  const run = (): ChildProcess =>
    spawn(process.execPath, [BACKEND_JS], {
      stdio: ["ignore", "ignore", "inherit"],
      env: {
        ...process.env,
        CHAT_PORT: String(port),
        CHAT_BACKEND_ID: id,
        REDIS_URL: redisUrl,
        CHAT_JWT_SECRET: secret.toString("base64url"),
      },
    });
  let child = run();
  return {
    id,
    port,
    get child() {
      return child;
    },
    kill: () => stopChild(child, "SIGKILL", 3000),
    restart: async () => {
      await stopChild(child, "SIGKILL", 3000);
      child = run();
      await whenReady(child, () => accepts(port), startMs, `backend ${id}`);
    },
  };
}

function readIfThere(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
