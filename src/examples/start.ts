/**
 * `npm start`: the seed's setup in one terminal — the echo backend on
 * 127.0.0.1:8010 and wsgate on port 8020 with the shipped conf/nginx.conf,
 * in the foreground. Ctrl-C stops both.
 */

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startEchoServer } from "./echo-server.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

async function start(): Promise<void> {
  const echo = await startEchoServer(8010, "127.0.0.1");
  mkdirSync(join(root, "logs"), { recursive: true });
  const proxy = spawn(
    process.execPath,
    [join(root, "bin", "wsgate.js"), "-p", root, "-c", "conf/nginx.conf", "-g", "daemon off;"],
    {
      stdio: "inherit",
    },
  );
  console.log("wsgate listening on port 8020: try  npx wscat -c ws://127.0.0.1:8020");
  const stop = (): void => {
    proxy.kill("SIGQUIT");
    echo.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  proxy.once("exit", (code) => {
    echo.close();
    process.exitCode = code ?? 0;
  });
}

start().catch((err: Error) => {
  console.error(`start: ${err.message}`);
  process.exit(1);
});
