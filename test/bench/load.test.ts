/**
 * The benchmark harness itself, tested without timing anything: the load
 * generator's frames are valid WebSocket frames, its echo reader copes with
 * replies split across reads and several in one read, and its rtt mode, run
 * for about a second at tiny scale straight against the echo backend (no
 * proxy), completes round trips in which every echoed byte matched.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EchoReader, clientFrame, echoOf, serverFrame } from "../../bench/load.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

type Events = Array<Record<string, unknown>>;

/** Run dist/bench/load.js as its own process; resolves with the JSON events it printed. */
function runLoad(args: readonly string[]): Promise<Events> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "bench", "load.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`load generator: exit ${code} ${signal ?? ""} ${err}`));
      else
        resolve(
          out
            .trim()
            .split("\n")
            .map((line) => JSON.parse(line) as Record<string, unknown>),
        );
    });
  });
}

function startBackend(mode: "ws" | "raw"): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "bench", "echo-backend.js"), "0", mode], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /ready (\d+)\n/.exec(out);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once("exit", (code) => reject(new Error(`echo backend exited with ${code}`)));
  });
}

function unmask(frame: Buffer, headerLength: number): Buffer {
  const mask = frame.subarray(headerLength - 4, headerLength);
  return Buffer.from(frame.subarray(headerLength).map((byte, i) => byte ^ mask[i & 3]!));
}

describe("benchmark load generator", () => {
  const backends: Partial<Record<"ws" | "raw", { child: ChildProcess; port: number }>> = {};

  before(async () => {
    backends.ws = await startBackend("ws");
    backends.raw = await startBackend("raw");
  });

  after(() => {
    for (const backend of Object.values(backends)) backend?.child.kill();
  });

  test("frames: masked client frames in each length encoding, and the echo a server sends back", () => {
    for (const [size, headerLength] of [
      [64, 6],
      [16384, 8],
      [70000, 14],
    ] as const) {
      const frame = clientFrame(size);
      assert.equal(frame.length, headerLength + size);
      assert.equal(frame[0], 0x82, "FIN + binary");
      assert.ok((frame[1]! & 0x80) !== 0, "masked");
      const reply = serverFrame(size);
      assert.equal(reply.length, headerLength - 4 + size);
      assert.ok((reply[1]! & 0x80) === 0, "unmasked");
      assert.deepEqual(reply.subarray(headerLength - 4), unmask(frame, headerLength));
      assert.deepEqual(echoOf(size, "raw"), frame);
    }
  });

  test("the echo reader: replies split across reads, several in one read, and a corrupted byte", () => {
    const reply = serverFrame(64);
    const three = Buffer.concat([reply, reply, reply]);
    const reader = new EchoReader(reply);
    let complete = 0;
    for (const cut of [
      [0, 1],
      [1, 40],
      [40, 66 + 5],
      [71, 198],
    ] as const) {
      complete += reader.push(three.subarray(cut[0], cut[1]));
    }
    assert.equal(complete, 3);
    assert.equal(reader.checked, three.length);
    assert.equal(reader.mismatches, 0);
    const bad = Buffer.from(reply);
    bad[30] = bad[30]! ^ 1;
    assert.equal(reader.push(bad), 1);
    assert.equal(reader.mismatches, 1);
  });

  for (const mode of ["ws", "raw"] as const) {
    test(`rtt mode against the ${mode} echo backend: round trips, every echoed byte matched`, async () => {
      const events = await runLoad([
        "rtt",
        String(backends[mode]!.port),
        `backend=${mode}`,
        "connections=4",
        "size=64",
        "seconds=1",
        "warmup=0.2",
      ]);
      assert.deepEqual(
        events.map((event) => event["event"]),
        ["go", "result"],
      );
      const result = events[1]!;
      assert.equal(result["connections"], 4);
      assert.equal(result["failed"], 0);
      assert.ok(Number(result["trips"]) > 0, "some round trips");
      assert.equal(result["mismatches"], 0, "every echoed byte matched");
      // Every byte that came back in the window was compared (up to a reply per connection at either edge).
      const unchecked = Math.abs(Number(result["checkedBytes"]) - Number(result["expectedBytes"]));
      assert.ok(unchecked < 4 * echoOf(64, mode).length, `checked ${result["checkedBytes"]} bytes`);
      assert.equal(result["errors"], 0);
      assert.equal(result["closed"], 0);
      assert.ok(Number(result["p99us"]) >= Number(result["p50us"]));
    });
  }

  test("the other modes complete real exchanges against the ws backend", async () => {
    const port = String(backends.ws!.port);
    const short = ["seconds=0.3", "warmup=0.1"];
    const [, throughput] = await runLoad(["throughput", port, "connections=1", "size=16384", "window=2", ...short]);
    assert.ok(Number(throughput!["frames"]) > 0);
    assert.equal(throughput!["mismatches"], 0);
    const [, upgrades] = await runLoad(["upgrades", port, "concurrency=2", ...short]);
    assert.ok(Number(upgrades!["upgrades"]) > 0);
    assert.equal(upgrades!["errors"], 0);
    const [, http] = await runLoad(["http", port, "concurrency=2", ...short]);
    assert.ok(Number(http!["responses"]) > 0);
    assert.equal(http!["notOk"], 0);
    // idle: stdin is closed at once, so every connection echoes right after opening.
    const idle = await runLoad(["idle", port, "connections=20"]);
    assert.equal(idle[0]!["event"], "opened");
    assert.equal(idle[1]!["echoed"], 20);
    assert.equal(idle[1]!["mismatches"], 0);
  });
});
