/**
 * `npm run example:push`: Redis, two push backends and wsgate on port 8030
 * (examples/push/nginx.conf), in the foreground. Ctrl-C stops all of them.
 */

import { startPushCluster } from "./cluster.js";

async function start(): Promise<void> {
  const cluster = await startPushCluster({ fixedPorts: true, stdio: "inherit" });
  console.log(`push example on ${cluster.url}/ (Redis on ${cluster.redis.port}, backends on ${cluster.backends.map((b) => b.port).join(", ")})
  subscribe:  npx wscat -c "ws://127.0.0.1:${cluster.port}/subscribe?topics=news"
  publish:    curl -d '{"topic":"news","message":"hello"}' ${cluster.url}/publish`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void cluster.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
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
