/**
 * The HTTP/2 benchmark's pieces, tested without timing anything: h2load's
 * arguments and the parsing of its summary and per-request log (from output
 * h2load 1.52 printed), the percentiles, and the RFC 8441 load generator
 * (bench/h2-tunnels.ts), run for a fraction of a second through a real wsgate
 * with `wsgate_http2_websocket on` to the raw echo backend: tunnels open and
 * every echoed byte matches, in the closed loop and after idling. When a server does not offer extended CONNECT,
 * the generator says so instead of measuring nothing.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { durationsFromLog, h2loadArgs, parseH2loadSummary, percentiles } from "../../bench/h2load.js";
import { ROOT, freePorts, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";

const H2LOAD_OUTPUT = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 3s of main duration for measurements.
Main benchmark duration is started for thread #0.
Application protocol: h2c
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 3.00s, 71941.33 req/s, 4.73MB/s
requests: 215824 total, 215924 started, 215824 done, 215820 succeeded, 4 failed, 0 errored, 0 timeout
status codes: 215820 2xx, 0 3xx, 0 4xx, 4 5xx
traffic: 14.20MB (14892346) total, 9.88MB (10359552) headers (space savings 51.02%), 632.30KB (647472) data
                     min         max         mean         sd        +/- sd
time for request:       28us      6.01ms      1.35ms       296us    95.72%
`;

type Events = Array<Record<string, unknown>>;

function runTunnels(args: readonly string[]): Promise<{ code: number | null; events: Events; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "bench", "h2-tunnels.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      const events = out
        .trim()
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, events, stderr: err });
    });
  });
}

function startRawBackend(): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "bench", "echo-backend.js"), "0", "raw"], {
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

describe("HTTP/2 benchmark: h2load's output", () => {
  test("arguments of a timed run: one thread, clients, streams per connection, duration, log file, URL last", () => {
    assert.deepEqual(h2loadArgs({ url: "http://127.0.0.1:1/x", clients: 10, streams: 5, seconds: 3, logFile: "/l" }), [
      ...["-t", "1", "-c", "10", "-m", "5", "-D", "3", "--log-file", "/l", "http://127.0.0.1:1/x"],
    ]);
  });

  test("the summary: requests, failures, statuses, rate, protocol", () => {
    assert.deepEqual(parseH2loadSummary(H2LOAD_OUTPUT), {
      done: 215824,
      succeeded: 215820,
      failed: 4,
      errored: 0,
      timeout: 0,
      status2xx: 215820,
      perSecond: 71941.33,
      elapsedS: 3,
      protocol: "h2c",
    });
    assert.equal(parseH2loadSummary(H2LOAD_OUTPUT.replace("3.00s,", "850.5ms,"))?.elapsedS, 0.8505);
    assert.equal(parseH2loadSummary("starting benchmark...\nNo protocol negotiated. Aborted.\n"), undefined);
  });

  test("the per-request log: the third column, lines without one skipped; nearest-rank percentiles", () => {
    const log = [
      "1733500000000000\t200\t120",
      "1733500000000100\t200\t80",
      "",
      "garbage",
      "1733500000000200\t200\t100",
    ];
    const durations = durationsFromLog(log.join("\n") + "\n");
    assert.deepEqual([...durations], [120, 80, 100]);
    assert.deepEqual(percentiles(durations, 0, 50, 99, 100), [80, 100, 120, 120]);
    const hundred = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.deepEqual(percentiles(hundred, 50, 99), [50, 99]);
    assert.deepEqual(percentiles(new Float64Array(), 50), [0]);
  });
});

describe("HTTP/2 benchmark: the RFC 8441 load generator", () => {
  let backend: { child: ChildProcess; port: number } | undefined;
  let wsgate: WsgateProcess | undefined;
  let ports: number[] = [];

  before(async () => {
    backend = await startRawBackend();
    ports = await freePorts(2);
    const server = (port: number, websocket: string): string =>
      `server { listen 127.0.0.1:${port} http2; wsgate_http2_websocket ${websocket};\n` +
      `location / { proxy_pass http://127.0.0.1:${backend!.port}; proxy_http_version 1.1;\n` +
      "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; } }";
    wsgate = await startWsgate({ conf: httpConf(server(ports[0]!, "on") + "\n" + server(ports[1]!, "off")) });
  });

  after(async () => {
    await wsgate?.stop();
    backend?.child.kill();
  });

  test("tunnels over extended CONNECT, round trips in a closed loop, every echoed byte matched", async () => {
    const { code, events, stderr } = await runTunnels([
      ...[String(ports[0]), "connections=2", "streams=3", "size=64", "seconds=0.5", "warmup=0.2", "backend=raw"],
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      events.map((event) => event["event"]),
      ["go", "result"],
    );
    const result = events[1]!;
    assert.equal(result["connections"], 2);
    assert.equal(result["tunnels"], 6);
    assert.equal(result["failed"], 0);
    assert.ok(Number(result["trips"]) > 0, "some round trips");
    assert.equal(result["mismatches"], 0);
    assert.equal(result["errors"], 0);
    assert.equal(result["closed"], 0);
    assert.ok(Number(result["p99us"]) >= Number(result["p50us"]));
  });

  test("idle mode: the tunnels open, and with stdin closed every one echoes once", async () => {
    const { code, events, stderr } = await runTunnels([String(ports[0]), "mode=idle", "connections=2", "streams=5"]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      events.map((event) => event["event"]),
      ["opened", "result"],
    );
    assert.equal(events[0]!["opened"], 10);
    const result = events[1]!;
    assert.equal(result["echoed"], 10);
    assert.equal(result["mismatches"], 0);
    assert.equal(result["closedWhileIdle"], 0);
  });

  test("a server without SETTINGS_ENABLE_CONNECT_PROTOCOL: the generator fails and says why", async () => {
    const { events } = await runTunnels([String(ports[1]), "connections=1", "streams=1", "seconds=0.2", "warmup=0"]);
    const result = events.find((event) => event["event"] === "result")!;
    assert.equal(result["tunnels"], 0);
    assert.equal(result["failed"], 1);
    assert.match(String(result["firstError"]), /ENABLE_CONNECT_PROTOCOL/);
  });
});
