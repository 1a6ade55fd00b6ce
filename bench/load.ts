/**
 * The load generator: raw sockets, a raw upgrade handshake, pre-built masked
 * frames, and byte counting for the echoes — cheap per message, so that the
 * proxy, not this process, is what is measured. Prints one JSON result.
 *
 *   node dist/bench/load.js MODE PORT [key=value …]
 *   modes: rtt (connections, size, seconds), throughput (connections, size, window, seconds),
 *          idle (connections), upgrades (concurrency, seconds), http (concurrency, seconds)
 */

import { connect, type Socket } from "node:net";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const HANDSHAKE = `GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A masked binary frame with `size` bytes of payload, built once. */
export function clientFrame(size: number): Buffer {
  const mask = [0x12, 0x34, 0x56, 0x78];
  const header =
    size < 126
      ? Buffer.from([0x82, 0x80 | size])
      : size < 65536
        ? Buffer.from([0x82, 0x80 | 126, size >> 8, size & 255])
        : Buffer.from([
            0x82,
            0x80 | 127,
            0,
            0,
            0,
            0,
            (size >>> 24) & 255,
            (size >> 16) & 255,
            (size >> 8) & 255,
            size & 255,
          ]);
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (i & 0x7f) ^ mask[i & 3]!;
  return Buffer.concat([header, Buffer.from(mask), payload]);
}

/** Length of the echoed (unmasked) frame for `size` bytes of payload. */
export function serverFrameLength(size: number): number {
  return (size < 126 ? 2 : size < 65536 ? 4 : 10) + size;
}

/** What comes back for one frame: a server frame from a WebSocket echo, the same bytes from a raw reflector. */
let reflected = false;
function replyLength(size: number): number {
  return reflected ? clientFrame(size).length : serverFrameLength(size);
}

/** Connect and complete the handshake; resolves with the socket and any bytes after the 101 head. */
export function openWebSocket(port: number): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.off("data", onData);
      if (!head.subarray(0, 12).toString().startsWith("HTTP/1.1 101")) {
        socket.destroy();
        reject(new Error(`no 101: ${head.toString("latin1", 0, Math.min(head.length, 80))}`));
        return;
      }
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(HANDSHAKE);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Closed loop: each connection sends a frame, waits for its echo, repeats. */
async function rtt(port: number, connections: number, size: number, seconds: number): Promise<object> {
  const frame = clientFrame(size);
  const expected = replyLength(size);
  const latencies: number[] = [];
  let trips = 0;
  let stopping = false;
  const sockets = await Promise.all(Array.from({ length: connections }, () => openWebSocket(port)));
  const started = process.hrtime.bigint();
  for (const { socket } of sockets) {
    let received = 0;
    let sentAt = process.hrtime.bigint();
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      while (received >= expected) {
        received -= expected;
        const now = process.hrtime.bigint();
        latencies.push(Number(now - sentAt) / 1000);
        trips++;
        if (stopping) return;
        sentAt = now;
        socket.write(frame);
      }
    });
    socket.write(frame);
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stopping = true;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  for (const { socket } of sockets) socket.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return { trips, perSecond: trips / elapsed, p50us: percentile(sorted, 50), p99us: percentile(sorted, 99) };
}

/** Pipelined large frames: a window of frames in flight per connection; MB/s of echoed payload. */
async function throughput(
  port: number,
  connections: number,
  size: number,
  window: number,
  seconds: number,
): Promise<object> {
  const frame = clientFrame(size);
  const expected = replyLength(size);
  let frames = 0;
  let stopping = false;
  const sockets = await Promise.all(Array.from({ length: connections }, () => openWebSocket(port)));
  const started = process.hrtime.bigint();
  for (const { socket } of sockets) {
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      while (received >= expected) {
        received -= expected;
        frames++;
        if (!stopping) socket.write(frame);
      }
    });
    for (let i = 0; i < window; i++) socket.write(frame);
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stopping = true;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  for (const { socket } of sockets) socket.destroy();
  return { frames, mbPerSecond: (frames * size) / elapsed / 1e6 };
}

/** Open `connections` tunnels and hold them; on "echo" on stdin, every one echoes once; reports how many did. */
async function idle(port: number, connections: number): Promise<object> {
  const sockets: Socket[] = [];
  let failed = 0;
  for (let i = 0; i < connections; i += 100) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(100, connections - i) }, () => openWebSocket(port)),
    );
    for (const result of batch) {
      if (result.status === "fulfilled") sockets.push(result.value.socket);
      else failed++;
    }
  }
  process.stdout.write(JSON.stringify({ opened: sockets.length, failed }) + "\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const frame = clientFrame(16);
  const expected = replyLength(16);
  const echoed = await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<boolean>((resolve) => {
          let received = 0;
          const timer = setTimeout(() => resolve(false), 10_000);
          socket.on("data", (chunk: Buffer) => {
            received += chunk.length;
            if (received >= expected) {
              clearTimeout(timer);
              resolve(true);
            }
          });
          socket.write(frame);
        }),
    ),
  );
  for (const socket of sockets) socket.destroy();
  return { opened: sockets.length, failed, echoed: echoed.filter(Boolean).length };
}

/** Handshake and close, `concurrency` at a time. */
async function upgrades(port: number, concurrency: number, seconds: number): Promise<object> {
  let done = 0;
  let errors = 0;
  const deadline = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        try {
          const { socket } = await openWebSocket(port);
          socket.destroy();
          done++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return { upgrades: done, errors, perSecond: done / elapsed };
}

/** Keep-alive GET / loop, `concurrency` connections; responses framed by Content-Length. */
async function http(port: number, concurrency: number, seconds: number): Promise<object> {
  const request = Buffer.from("GET / HTTP/1.1\r\nHost: bench\r\n\r\n");
  let responses = 0;
  let stopping = false;
  const started = process.hrtime.bigint();
  const sockets = Array.from({ length: concurrency }, () => {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let buffered = "";
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end === -1) return;
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        responses++;
        if (!stopping) socket.write(request);
      }
    });
    socket.on("connect", () => socket.write(request));
    socket.on("error", () => undefined);
    return socket;
  });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stopping = true;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  for (const socket of sockets) socket.destroy();
  return { responses, perSecond: responses / elapsed };
}

async function main(): Promise<void> {
  const [mode, portText, ...rest] = process.argv.slice(2);
  const options = Object.fromEntries(rest.map((pair) => pair.split("=") as [string, string]));
  const number = (key: string, fallback: number): number => Number(options[key] ?? fallback);
  const port = Number(portText);
  reflected = options["backend"] === "raw";
  let result: object;
  switch (mode) {
    case "rtt":
      result = await rtt(port, number("connections", 100), number("size", 64), number("seconds", 5));
      break;
    case "throughput":
      result = await throughput(
        port,
        number("connections", 4),
        number("size", 16384),
        number("window", 8),
        number("seconds", 5),
      );
      break;
    case "idle":
      result = await idle(port, number("connections", 9000));
      break;
    case "upgrades":
      result = await upgrades(port, number("concurrency", 50), number("seconds", 5));
      break;
    case "http":
      result = await http(port, number("concurrency", 50), number("seconds", 5));
      break;
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

if (process.argv[1]?.endsWith("load.js")) {
  main().catch((err: unknown) => {
    process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
