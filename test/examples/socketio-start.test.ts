/**
 * The Socket.IO example's one command (npm run example:socketio runs
 * dist/examples/socketio/start.js): it brings up Redis, both servers and
 * wsgate on the example's own ports (3000, 3001, 3002), a client reaches a
 * server through wsgate, and SIGTERM stops every process it started. It
 * uses the fixed ports of the example, so it is skipped when one is taken.
 */

import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { redisMissing } from "../../examples/shared/redis-server.js";
import { connectChat, within } from "./socketio-run.js";
import { accepts } from "../../examples/shared/ports.js";

const START_JS = fileURLToPath(new URL("../../examples/socketio/start.js", import.meta.url));
const PORTS = [3000, 3001, 3002];

const taken = (await Promise.all(PORTS.map(accepts))).some(Boolean);
const skip = redisMissing() || (taken ? "one of ports 3000, 3001, 3002 is in use" : false);

test(
  "npm run example:socketio starts Redis, two servers and wsgate; SIGTERM stops them all",
  { skip, timeout: 60_000 },
  async () => {
    const child = spawn(process.execPath, [START_JS], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await within(
        new Promise<void>((resolve, reject) => {
          child.stdout.on("data", () => output.includes("wsgate on http://127.0.0.1:3000/") && resolve());
          void exited.then(() => reject(new Error(`start.js exited: ${output}`)));
        }),
        30_000,
        "the example's start",
      );
      const redisPort = Number(/redis:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
      // wsgate writes its pid file once it listens; until then a connection is refused.
      let client;
      for (let attempt = 0; client === undefined; attempt++) {
        try {
          client = await connectChat("http://127.0.0.1:3000", "127.0.0.1", ["polling", "websocket"], 5000);
        } catch (error) {
          if (attempt >= 20) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      assert.match(client.instance, /^[ab]$/);
      client.close();
      child.kill("SIGTERM");
      assert.equal(await within(exited, 15_000, "start.js to exit"), 0, output);
      for (const port of [...PORTS, redisPort]) assert.equal(await accepts(port), false, `port ${port} still accepts`);
    } finally {
      // SIGTERM first, so that start.js stops what it started; SIGKILL only if it does not exit.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await within(exited, 10_000, "start.js to exit").catch(() => child.kill("SIGKILL"));
      }
    }
  },
);
