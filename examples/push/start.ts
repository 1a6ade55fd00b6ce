/**
 * `npm run example:push`: Redis, two push backends and wsgate on port 8030
 * (examples/push/nginx.conf), in the foreground. Ctrl-C stops all of them.
 */

import { startPushCluster, type PushCluster } from "./cluster.js";

let cluster: PushCluster | undefined;
let stopping = false;

/** Stop everything; a signal during the start is kept and acted on once the start is over. */
function stop(): void {
  if (stopping) return;
  stopping = true;
  if (cluster !== undefined) void cluster.stop().then(() => process.exit());
}

async function start(): Promise<void> {
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  cluster = await startPushCluster({ fixedPorts: true, stdio: "inherit" });
  if (stopping) {
    await cluster.stop();
    return;
  }
  console.log(`push example on ${cluster.url}/ (Redis on ${cluster.redis.port}, backends on ${cluster.backends.map((b) => b.port).join(", ")})
  subscribe:  npx wscat -c "ws://127.0.0.1:${cluster.port}/subscribe?topics=news"
  publish:    curl -d '{"topic":"news","message":"hello"}' ${cluster.url}/publish`);
  // Any part that dies takes the example down with it.
  for (const proc of [cluster.wsgate, ...cluster.backends]) {
    proc.child.once("exit", (code, signal) => {
      if (stopping) return;
      console.error(`${proc.name} exited (${code ?? signal}); stopping`);
      process.exitCode = 1;
      stop();
    });
  }
}

start().catch((err: Error) => {
  console.error(`example:push: ${err.message}`);
  process.exit(1);
});
