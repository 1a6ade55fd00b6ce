/**
 * The load generator: raw `net` sockets, a raw upgrade handshake, one
 * pre-built masked frame (fixed payload, fixed mask key, built once), and byte
 * counting for the echoes — cheap per message, so that the proxy, not this
 * process, is what is measured. Every echoed byte is compared with the reply
 * expected (one native memcmp per chunk), so a figure is only reported for
 * traffic that came back intact.
 *
 *   node dist/bench/load.js MODE PORT [key=value …]
 *
 *   rtt        connections=100 size=64 seconds=5 warmup=1   closed loop per connection → round trips/s, p50/p99
 *   throughput connections=4 size=16384 window=8 seconds=5 warmup=1   pipelined → MB/s of echoed payload
 *   idle       connections=9000   open and hold; on a line on stdin every one echoes once → how many did
 *   upgrades   concurrency=50 seconds=5 warmup=1   connect + handshake + close → upgrades/s
 *   http       concurrency=50 seconds=5 warmup=1   keep-alive GET / → requests/s
 *
 *   backend=ws (default) the peer is a WebSocket echo: replies are unmasked server frames;
 *   backend=raw          the peer reflects bytes as they are: replies are the masked frame itself.
 *
 * Output, one JSON object a line on stdout: {"event":"go"} when the measured
 * window starts (after the warm-up), {"event":"opened",…} in idle mode once
 * every connection is open, and {"event":"result",…} last — written as soon as
 * the window ends, before the sockets are torn down, so that whoever samples
 * the proxy's CPU at "go" and "result" brackets exactly the window.
 */

import { connect, type Socket } from "node:net";
import { untilStdin } from "./processes.js";

export const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
/** Sec-WebSocket-Accept for KEY (RFC 6455 §1.3's example). */
export const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
export const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const HANDSHAKE = Buffer.from(
  "GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  "latin1",
);
const HTTP_GET = Buffer.from("GET / HTTP/1.1\r\nHost: bench\r\n\r\n", "latin1");
const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");

export type BackendKind = "ws" | "raw";

/** The fixed payload: byte i is i mod 251 (a prime, so no pattern lines up with the 4-byte mask). */
export function payload(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  return bytes;
}

function frameHeader(size: number, masked: boolean): Buffer {
  const bit = masked ? 0x80 : 0;
  if (size < 126) return Buffer.from([0x82, bit | size]);
  if (size < 65536) return Buffer.from([0x82, bit | 126, size >> 8, size & 255]);
  const header = Buffer.alloc(10);
  header[0] = 0x82;
  header[1] = bit | 127;
  header.writeBigUInt64BE(BigInt(size), 2);
  return header;
}

/** A final, masked binary frame carrying `payload(size)`, masked with MASK. */
export function clientFrame(size: number): Buffer {
  const data = payload(size);
  for (let i = 0; i < size; i++) data[i] = data[i]! ^ MASK[i & 3]!;
  return Buffer.concat([frameHeader(size, true), MASK, data]);
}

/** The same message as a WebSocket server sends it back: unmasked. */
export function serverFrame(size: number): Buffer {
  return Buffer.concat([frameHeader(size, false), payload(size)]);
}

/** The bytes that come back for one clientFrame(size). */
export function echoOf(size: number, backend: BackendKind): Buffer {
  return backend === "raw" ? clientFrame(size) : serverFrame(size);
}

/**
 * Checks a stream of echoes against the one expected reply, repeated: handles
 * replies split across reads and several replies in one read.
 */
export class EchoReader {
  private offset = 0;
  /** Bytes compared so far, and how many compared segments differed. */
  checked = 0;
  mismatches = 0;

  constructor(private readonly expected: Buffer) {}

  /** Feed a chunk; returns how many replies it completed. */
  push(chunk: Buffer): number {
    const expected = this.expected;
    let complete = 0;
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, expected.length - this.offset);
      if (chunk.compare(expected, this.offset, this.offset + n, at, at + n) !== 0) this.mismatches++;
      at += n;
      this.offset += n;
      this.checked += n;
      if (this.offset === expected.length) {
        this.offset = 0;
        complete++;
      }
    }
    return complete;
  }
}

export interface OpenSocket {
  readonly socket: Socket;
  /** Bytes that came in the same reads as the 101 head, after it. */
  readonly rest: Buffer;
}

/** Connect and complete the handshake (101 with the right Sec-WebSocket-Accept). */
export function openWebSocket(port: number, timeoutMs = 10_000): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", noDelay: true });
    let head: Buffer = Buffer.alloc(0);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error("handshake timed out")), timeoutMs);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf(CRLFCRLF);
      if (end === -1) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", fail);
      socket.off("close", onClose);
      const text = head.toString("latin1", 0, end);
      if (!text.startsWith("HTTP/1.1 101 ") || !text.includes(ACCEPT)) {
        socket.destroy();
        reject(new Error(`no 101: ${JSON.stringify(text.slice(0, 80))}`));
        return;
      }
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    const onClose = (): void => fail(new Error("closed during the handshake"));
    socket.on("data", onData);
    socket.on("error", fail);
    socket.on("close", onClose);
    socket.write(HANDSHAKE);
  });
}

/** Open `count` WebSockets, at most `parallel` handshakes at a time; failures are counted. */
async function openMany(
  port: number,
  count: number,
  parallel: number,
): Promise<{ opened: OpenSocket[]; failed: number; firstError: string | undefined }> {
  const opened: OpenSocket[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        next++;
        try {
          opened.push(await openWebSocket(port));
        } catch (err) {
          failed++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  return { opened, failed, firstError };
}

function emit(event: string, fields: object = {}): void {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A growable array of latencies in µs. */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  add(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  clear(): void {
    this.length = 0;
  }
  percentiles(...ps: number[]): number[] {
    const sorted = this.data.slice(0, this.length).sort();
    return ps.map((p) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!,
    );
  }
}

/** The measured window: warm up, emit "go", run, and report the load generator's own CPU over the window. */
async function window(
  warmupS: number,
  seconds: number,
  reset: () => void,
): Promise<{ elapsedS: number; cpuS: number }> {
  await sleep(warmupS * 1000);
  reset();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  emit("go");
  await sleep(seconds * 1000);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { elapsedS, cpuS: (used.user + used.system) / 1e6 };
}

interface Common {
  readonly port: number;
  readonly backend: BackendKind;
  readonly seconds: number;
  readonly warmup: number;
}

/** Closed loop: each connection sends one frame, waits for the whole echo, records the latency, repeats. */
export async function rtt(options: Common & { connections: number; size: number }): Promise<object> {
  const frame = clientFrame(options.size);
  const reply = echoOf(options.size, options.backend);
  const { opened, failed, firstError } = await openMany(options.port, options.connections, 100);
  const samples = new Samples();
  const readers: EchoReader[] = [];
  const lastEcho: bigint[] = [];
  let trips = 0;
  let errors = 0;
  let closed = 0;
  let stopping = false;
  opened.forEach(({ socket, rest }, index) => {
    const reader = new EchoReader(reply);
    readers.push(reader);
    let sentAt = process.hrtime.bigint();
    lastEcho.push(sentAt);
    const onData = (chunk: Buffer): void => {
      const complete = reader.push(chunk);
      if (complete === 0) return;
      const now = process.hrtime.bigint();
      samples.add(Number(now - sentAt) / 1000);
      trips += complete;
      lastEcho[index] = now;
      if (stopping) return;
      sentAt = now;
      socket.write(frame);
    };
    socket.on("data", onData);
    socket.on("error", () => errors++);
    socket.on("close", () => {
      if (!stopping) closed++;
    });
    if (rest.length > 0) reader.push(rest);
    socket.write(frame);
  });
  const { elapsedS, cpuS } = await window(options.warmup, options.seconds, () => {
    trips = 0;
    samples.clear();
    for (const reader of readers) reader.checked = reader.mismatches = 0;
  });
  stopping = true;
  const end = process.hrtime.bigint();
  const [p50, p90, p99, max] = samples.percentiles(50, 90, 99, 100);
  const result = {
    connections: opened.length,
    failed,
    firstError,
    trips,
    perSecond: trips / elapsedS,
    p50us: p50,
    p90us: p90,
    p99us: p99,
    maxus: max,
    checkedBytes: readers.reduce((sum, r) => sum + r.checked, 0),
    mismatches: readers.reduce((sum, r) => sum + r.mismatches, 0),
    expectedBytes: trips * reply.length,
    /** Connections with no echo in the last second of the window. */
    stalled: lastEcho.filter((at) => end - at > 1_000_000_000n).length,
    errors,
    closed,
    elapsedS,
    cpuS,
  };
  emit("result", result);
  for (const { socket } of opened) socket.destroy();
  return result;
}

/** Large frames, pipelined: `window` frames in flight per connection; MB/s of echoed payload. */
export async function throughput(
  options: Common & { connections: number; size: number; window: number },
): Promise<object> {
  const frame = clientFrame(options.size);
  const reply = echoOf(options.size, options.backend);
  const { opened, failed, firstError } = await openMany(options.port, options.connections, 100);
  const readers: EchoReader[] = [];
  let frames = 0;
  let errors = 0;
  let closed = 0;
  let stopping = false;
  for (const { socket, rest } of opened) {
    const reader = new EchoReader(reply);
    readers.push(reader);
    socket.on("data", (chunk: Buffer) => {
      const complete = reader.push(chunk);
      frames += complete;
      if (!stopping) for (let i = 0; i < complete; i++) socket.write(frame);
    });
    socket.on("error", () => errors++);
    socket.on("close", () => {
      if (!stopping) closed++;
    });
    if (rest.length > 0) reader.push(rest);
    for (let i = 0; i < options.window; i++) socket.write(frame);
  }
  const { elapsedS, cpuS } = await window(options.warmup, options.seconds, () => {
    frames = 0;
    for (const reader of readers) reader.checked = reader.mismatches = 0;
  });
  stopping = true;
  const result = {
    connections: opened.length,
    failed,
    firstError,
    frames,
    mbPerSecond: (frames * options.size) / elapsedS / 1e6,
    checkedBytes: readers.reduce((sum, r) => sum + r.checked, 0),
    mismatches: readers.reduce((sum, r) => sum + r.mismatches, 0),
    errors,
    closed,
    elapsedS,
    cpuS,
  };
  emit("result", result);
  for (const { socket } of opened) socket.destroy();
  return result;
}

/**
 * Open `connections` WebSockets and keep them idle; once a line arrives on
 * stdin (or at once with stdin closed), every one sends one frame and must get
 * its echo back intact within `timeoutS`.
 */
export async function idle(
  options: Pick<Common, "port" | "backend"> & { connections: number; timeoutS: number },
): Promise<object> {
  const started = Date.now();
  const { opened, failed, firstError } = await openMany(options.port, options.connections, 100);
  let closedWhileIdle = 0;
  let errors = 0;
  let idling = true;
  for (const { socket } of opened) {
    socket.on("error", () => errors++);
    socket.once("close", () => {
      if (idling) closedWhileIdle++;
    });
  }
  emit("opened", { opened: opened.length, failed, firstError, openS: (Date.now() - started) / 1000 });
  await untilStdin();
  idling = false;
  process.stdin.pause();
  const frame = clientFrame(16);
  const reply = echoOf(16, options.backend);
  let mismatches = 0;
  const echoStarted = Date.now();
  const outcomes = await Promise.all(
    opened.map(
      ({ socket, rest }) =>
        new Promise<boolean>((resolve) => {
          const reader = new EchoReader(reply);
          const timer = setTimeout(() => done(false), options.timeoutS * 1000);
          let finished = false;
          const done = (ok: boolean): void => {
            if (finished) return;
            finished = true;
            clearTimeout(timer);
            mismatches += reader.mismatches;
            resolve(ok && reader.mismatches === 0);
          };
          socket.on("data", (chunk: Buffer) => {
            if (reader.push(chunk) > 0) done(true);
          });
          socket.once("close", () => done(false));
          if (socket.destroyed) return done(false);
          if (rest.length > 0 && reader.push(rest) > 0) return done(true);
          socket.write(frame);
        }),
    ),
  );
  const result = {
    requested: options.connections,
    opened: opened.length,
    failed,
    firstError,
    closedWhileIdle,
    echoed: outcomes.filter(Boolean).length,
    mismatches,
    errors,
    echoS: (Date.now() - echoStarted) / 1000,
  };
  emit("result", result);
  for (const { socket } of opened) socket.destroy();
  return result;
}

/** Connect, handshake, close; `concurrency` loops at a time. */
export async function upgrades(options: Common & { concurrency: number }): Promise<object> {
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stopping = false;
  const loops = Array.from({ length: options.concurrency }, async () => {
    while (!stopping) {
      try {
        const { socket } = await openWebSocket(options.port);
        socket.destroy();
        done++;
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  });
  const { elapsedS, cpuS } = await window(options.warmup, options.seconds, () => {
    done = 0;
    errors = 0;
  });
  const result = { upgrades: done, perSecond: done / elapsedS, errors, firstError, elapsedS, cpuS };
  emit("result", result);
  stopping = true;
  await Promise.all(loops);
  return result;
}

/** Keep-alive `GET /`, one request in flight per connection, responses framed by Content-Length. */
export async function http(options: Common & { concurrency: number }): Promise<object> {
  let responses = 0;
  let notOk = 0;
  let errors = 0;
  let reconnects = 0;
  let stopping = false;
  const samples = new Samples();
  const sockets = new Set<Socket>();
  const open = (): void => {
    const socket = connect({ port: options.port, host: "127.0.0.1", noDelay: true });
    sockets.add(socket);
    let buffered: Buffer = Buffer.alloc(0);
    let sentAt = process.hrtime.bigint();
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf(CRLFCRLF);
        if (end === -1) return;
        const head = buffered.toString("latin1", 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        responses++;
        const now = process.hrtime.bigint();
        samples.add(Number(now - sentAt) / 1000);
        if (!head.startsWith("HTTP/1.1 200 ")) notOk++;
        sentAt = now;
        if (!stopping) socket.write(HTTP_GET);
      }
    });
    socket.on("error", () => errors++);
    socket.on("close", () => {
      sockets.delete(socket);
      // A server may close a keep-alive connection (keepalive_requests): open another.
      if (!stopping) {
        reconnects++;
        open();
      }
    });
    sentAt = process.hrtime.bigint();
    socket.write(HTTP_GET);
  };
  for (let i = 0; i < options.concurrency; i++) open();
  const { elapsedS, cpuS } = await window(options.warmup, options.seconds, () => {
    responses = notOk = errors = reconnects = 0;
    samples.clear();
  });
  stopping = true;
  const [p50, p99] = samples.percentiles(50, 99);
  const result = {
    responses,
    perSecond: responses / elapsedS,
    p50us: p50,
    p99us: p99,
    notOk,
    errors,
    reconnects,
    elapsedS,
    cpuS,
  };
  emit("result", result);
  for (const socket of sockets) socket.destroy();
  return result;
}

/** A load process's arguments: the port, then `key=value` pairs; `num` reads a number among them. */
export function loadArguments(
  portText: string | undefined,
  rest: readonly string[],
  defaultBackend: BackendKind,
): {
  port: number;
  backend: BackendKind;
  options: Map<string, string>;
  num: (key: string, fallback: number) => number;
} {
  const options = new Map(rest.map((pair) => pair.split("=", 2) as [string, string]));
  const num = (key: string, fallback: number): number => {
    const value = Number(options.get(key) ?? fallback);
    if (!Number.isFinite(value) || value < 0) throw new Error(`bad ${key}=${options.get(key)}`);
    return value;
  };
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`bad port ${String(portText)}`);
  const backend = (options.get("backend") ?? defaultBackend) as BackendKind;
  if (backend !== "ws" && backend !== "raw") throw new Error(`bad backend=${String(backend)}`);
  return { port, backend, options, num };
}

export async function main(argv: readonly string[]): Promise<void> {
  const [mode, portText, ...rest] = argv;
  const { port, backend, num } = loadArguments(portText, rest, "ws");
  const common: Common = { port, backend, seconds: num("seconds", 5), warmup: num("warmup", 1) };
  switch (mode) {
    case "rtt":
      await rtt({ ...common, connections: num("connections", 100), size: num("size", 64) });
      break;
    case "throughput":
      await throughput({
        ...common,
        connections: num("connections", 4),
        size: num("size", 16384),
        window: num("window", 8),
      });
      break;
    case "idle":
      await idle({ port, backend, connections: num("connections", 9000), timeoutS: num("timeout", 20) });
      break;
    case "upgrades":
      await upgrades({ ...common, concurrency: num("concurrency", 50) });
      break;
    case "http":
      await http({ ...common, concurrency: num("concurrency", 50) });
      break;
    default:
      throw new Error(`unknown mode ${String(mode)} (rtt, throughput, idle, upgrades, http)`);
  }
}

if (process.argv[1]?.endsWith("load.js")) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
