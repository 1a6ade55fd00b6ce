/**
 * The load generator for WebSocket over HTTP/2 (RFC 8441), run as its own
 * process: `connections` HTTP/2 connections (h2c, prior knowledge), each with
 * `streams` extended CONNECT streams (`:protocol websocket`), and on every
 * stream a closed loop of one masked frame out, its whole echo back (checked
 * byte for byte, as bench/load.ts does for HTTP/1.1 tunnels), the next out.
 *
 *   node dist/bench/h2-tunnels.js PORT [connections=10] [streams=10] [size=64] [seconds=5] [warmup=1] [backend=raw]
 *   node dist/bench/h2-tunnels.js PORT mode=idle [connections=20] [streams=100]   open, hold, echo once on a stdin line
 *
 * Output as bench/load.ts's: {"event":"go"} when the measured window starts,
 * then {"event":"result",…} with round trips, rate, p50/p99 latency and the
 * generator's own CPU over the window. In idle mode: {"event":"opened",…} once
 * every tunnel is open, then {"event":"result",…} with how many echoed.
 */

import { connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { EchoReader, clientFrame, echoOf, loadArguments, type BackendKind } from "./load.js";
import { percentiles } from "./h2load.js";
import { untilStdin } from "./processes.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function emit(event: string, fields: object = {}): void {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

/** A session whose SETTINGS said ENABLE_CONNECT_PROTOCOL (else extended CONNECT cannot be sent). */
function openSession(port: number, timeoutMs = 10_000): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => fail(new Error("no SETTINGS in time")), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    session.on("error", fail);
    session.once("remoteSettings", (settings) => {
      clearTimeout(timer);
      session.off("error", fail);
      session.on("error", () => undefined);
      if (settings.enableConnectProtocol) resolve(session);
      else fail(new Error("the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL"));
    });
  });
}

/** An extended CONNECT answered 200: the tunnel is open. */
function openTunnel(session: ClientHttp2Session, timeoutMs = 10_000): Promise<ClientHttp2Stream> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "CONNECT",
      ":protocol": "websocket",
      ":path": "/",
      "sec-websocket-version": "13",
    });
    const timer = setTimeout(() => fail(new Error("no answer to the extended CONNECT in time")), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      stream.destroy();
      reject(err);
    };
    stream.on("error", fail);
    stream.once("close", () => fail(new Error(`the stream closed first (code ${stream.rstCode})`)));
    stream.once("response", (headers) => {
      clearTimeout(timer);
      stream.off("error", fail);
      stream.removeAllListeners("close");
      stream.on("error", () => undefined);
      if (headers[":status"] === 200) resolve(stream);
      else fail(new Error(`extended CONNECT answered ${String(headers[":status"])}`));
    });
  });
}

interface Options {
  readonly port: number;
  readonly connections: number;
  readonly streams: number;
  readonly size: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly backend: BackendKind;
}

interface Opened {
  readonly sessions: ClientHttp2Session[];
  readonly streams: ClientHttp2Stream[];
  readonly failed: number;
  readonly firstError: string | undefined;
}

/** `connections` sessions with `streams` tunnels each, the sessions opened in parallel; failures counted. */
async function openAll(options: Pick<Options, "port" | "connections" | "streams">): Promise<Opened> {
  const sessions: ClientHttp2Session[] = [];
  const streams: ClientHttp2Stream[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const note = (err: unknown): void => {
    failed++;
    firstError ??= err instanceof Error ? err.message : String(err);
  };
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      try {
        const session = await openSession(options.port);
        sessions.push(session);
        const opened = await Promise.allSettled(Array.from({ length: options.streams }, () => openTunnel(session)));
        for (const outcome of opened) {
          if (outcome.status === "fulfilled") streams.push(outcome.value);
          else note(outcome.reason);
        }
      } catch (err) {
        note(err);
      }
    }),
  );
  return { sessions, streams, failed, firstError };
}

/** Closed loop of one frame per tunnel: round trips/s and latency over the window. */
export async function tunnels(options: Options): Promise<object> {
  const frame = clientFrame(options.size);
  const reply = echoOf(options.size, options.backend);
  const { sessions, streams, failed, firstError } = await openAll(options);
  let trips = 0;
  let errors = 0;
  let closed = 0;
  let stopping = false;
  let samples: number[] = [];
  const readers: EchoReader[] = [];
  for (const stream of streams) {
    const reader = new EchoReader(reply);
    readers.push(reader);
    let sentAt = process.hrtime.bigint();
    stream.on("data", (chunk: Buffer) => {
      const complete = reader.push(chunk);
      if (complete === 0) return;
      const now = process.hrtime.bigint();
      samples.push(Number(now - sentAt) / 1000);
      trips += complete;
      if (stopping) return;
      sentAt = now;
      stream.write(frame);
    });
    stream.on("error", () => errors++);
    stream.on("close", () => {
      if (!stopping) closed++;
    });
    stream.write(frame);
  }
  await sleep(options.warmup * 1000);
  trips = 0;
  samples = [];
  for (const reader of readers) reader.checked = reader.mismatches = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  emit("go");
  await sleep(options.seconds * 1000);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  stopping = true;
  const [p50, p99] = percentiles(Float64Array.from(samples), 50, 99);
  const result = {
    connections: sessions.length,
    tunnels: streams.length,
    failed,
    firstError,
    trips,
    perSecond: trips / elapsedS,
    p50us: p50,
    p99us: p99,
    mismatches: readers.reduce((sum, r) => sum + r.mismatches, 0),
    errors,
    closed,
    elapsedS,
    cpuS: (used.user + used.system) / 1e6,
  };
  emit("result", result);
  for (const session of sessions) session.destroy();
  return result;
}

/**
 * Open the tunnels and hold them idle; once a line arrives on stdin (or at once with stdin closed),
 * every tunnel sends one frame and must get its echo back intact within `timeoutS` — as
 * bench/load.ts's idle mode does for HTTP/1.1 tunnels, so the caller can read the proxy's memory
 * between "opened" and the echoes.
 */
export async function idle(options: Options & { timeoutS: number }): Promise<object> {
  const { sessions, streams, failed, firstError } = await openAll(options);
  let closedWhileIdle = 0;
  let idling = true;
  for (const stream of streams)
    stream.once("close", () => {
      if (idling) closedWhileIdle++;
    });
  emit("opened", { opened: streams.length, connections: sessions.length, failed, firstError });
  await untilStdin();
  idling = false;
  process.stdin.pause();
  const frame = clientFrame(16);
  const reply = echoOf(16, options.backend);
  let mismatches = 0;
  const outcomes = await Promise.all(
    streams.map(
      (stream) =>
        new Promise<boolean>((resolve) => {
          const reader = new EchoReader(reply);
          const timer = setTimeout(() => done(false), options.timeoutS * 1000);
          const done = (ok: boolean): void => {
            clearTimeout(timer);
            mismatches += reader.mismatches;
            resolve(ok && reader.mismatches === 0);
          };
          stream.on("data", (chunk: Buffer) => {
            if (reader.push(chunk) > 0) done(true);
          });
          if (stream.destroyed) return done(false);
          stream.write(frame);
        }),
    ),
  );
  const result = {
    requested: options.connections * options.streams,
    opened: streams.length,
    failed,
    firstError,
    closedWhileIdle,
    echoed: outcomes.filter(Boolean).length,
    mismatches,
  };
  emit("result", result);
  for (const session of sessions) session.destroy();
  return result;
}

async function main(argv: readonly string[]): Promise<void> {
  const [portText, ...rest] = argv;
  const { port, backend, options: pairs, num } = loadArguments(portText, rest, "raw");
  const options: Options = {
    port,
    backend,
    connections: num("connections", 10),
    streams: num("streams", 10),
    size: num("size", 64),
    seconds: num("seconds", 5),
    warmup: num("warmup", 1),
  };
  if (pairs.get("mode") === "idle") await idle({ ...options, timeoutS: num("timeout", 20) });
  else await tunnels(options);
}

if (process.argv[1]?.endsWith("h2-tunnels.js")) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`h2-tunnels: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
