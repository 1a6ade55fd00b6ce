/**
 * The benchmark's own parts, tested without timing anything: the load
 * generator's frames are valid WebSocket frames, and its modes complete real
 * round trips against the benchmark backend.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { clientFrame, openWebSocket, serverFrameLength } from "../../bench/load.js";
import { freePort } from "../support/sockets.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

function runLoad(args: readonly string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "bench", "load.js"), ...args], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("load generator did not finish"));
    }, 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!) as Record<string, number>);
    });
  });
}

describe("benchmark harness", () => {
  let backend: ChildProcess;
  let port: number;

  before(async () => {
    port = await freePort();
    backend = spawn(process.execPath, [join(ROOT, "dist", "bench", "echo-backend.js"), String(port)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) => backend.stdout!.once("data", () => resolve()));
  });

  after(() => {
    backend?.kill();
  });

  test("frames: masked client frames for each length encoding, echo lengths to match", () => {
    for (const [size, headerLength] of [
      [64, 6],
      [16384, 8],
      [70000, 14],
    ] as const) {
      const frame = clientFrame(size);
      assert.equal(frame.length, headerLength + size);
      assert.equal(frame[0], 0x82);
      assert.ok((frame[1]! & 0x80) !== 0, "masked");
      assert.equal(serverFrameLength(size), headerLength - 4 + size);
    }
  });

  test("an echoed frame comes back byte for byte, unmasked", async () => {
    const { socket } = await openWebSocket(port);
    const frame = clientFrame(64);
    const echoed = await new Promise<Buffer>((resolve) => {
      let bytes = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (bytes.length >= serverFrameLength(64)) resolve(bytes);
      });
      socket.write(frame);
    });
    socket.destroy();
    const payload = Buffer.from(frame.subarray(6)).map((byte, i) => byte ^ frame[2 + (i & 3)]!);
    assert.deepEqual(echoed.subarray(2), Buffer.from(payload));
  });

  test("rtt, throughput, upgrades and http modes complete real exchanges", async () => {
    const rtt = await runLoad(["rtt", String(port), "connections=4", "size=64", "seconds=0.5"]);
    assert.ok(rtt["trips"]! > 0 && rtt["p99us"]! >= rtt["p50us"]!);
    const throughput = await runLoad([
      "throughput",
      String(port),
      "connections=1",
      "size=16384",
      "window=2",
      "seconds=0.5",
    ]);
    assert.ok(throughput["frames"]! > 0);
    const upgrades = await runLoad(["upgrades", String(port), "concurrency=2", "seconds=0.5"]);
    assert.ok(upgrades["upgrades"]! > 0);
    assert.equal(upgrades["errors"], 0);
    const http = await runLoad(["http", String(port), "concurrency=2", "seconds=0.5"]);
    assert.ok(http["responses"]! > 0);
  });
});
