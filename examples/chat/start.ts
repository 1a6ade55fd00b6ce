/**
 * `npm run example:chat`: Redis, two chat backends and wsgate in one
 * terminal. Ports from the environment: CHAT_PORT (wsgate, 8030),
 * CHAT_BACKEND_PORTS ("9201,9202"), REDIS_PORT (a free one). Ctrl-C stops all.
 */

import { startChat } from "./launch.js";

async function start(): Promise<void> {
  const env = process.env;
  const ports = (env["CHAT_BACKEND_PORTS"] ?? "9201,9202").split(",").map(Number);
  if (ports.length !== 2 || ports.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new Error(`CHAT_BACKEND_PORTS must be two ports, e.g. "9201,9202"`);
  }
  const chat = await startChat({
    port: Number(env["CHAT_PORT"] ?? 8030),
    backendPorts: [ports[0]!, ports[1]!],
    redisPort: env["REDIS_PORT"] ? Number(env["REDIS_PORT"]) : undefined,
  });
  console.log(`redis-server on ${chat.redis.url} (pid ${chat.redis.child.pid})`);
  for (const backend of chat.backends) {
    console.log(`backend ${backend.id} on 127.0.0.1:${backend.port} (pid ${backend.child.pid})`);
  }
  console.log(`chat at ${chat.url}  (open it in two browser windows; logs in ${chat.runDir}/logs)`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    chat.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  chat.wsgate.once("exit", (code) => {
    if (!stopping) console.error(`wsgate exited (${code}); stopping`);
    stop();
  });
}

start().catch((err: Error) => {
  console.error(`example:chat: ${err.message}`);
  process.exit(1);
});
