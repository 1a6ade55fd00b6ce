/**
 * The optional native tunnel (native/tunnel.c, built at install by
 * scripts/build-native.mjs where a compiler is present): a plain tunnel —
 * both sockets plain TCP, no frames to follow — is handed to C after the
 * 101, which moves its bytes with read/write, keeps its back-pressure,
 * half-close and timers as tunnel.ts does, and tells JavaScript once, at the
 * end, why it ended and how many bytes went each way. Without the addon, or
 * with WSGATE_NATIVE_TUNNEL=off, every tunnel is the TypeScript one.
 *
 * The addon takes dup()s of both descriptors, and both Node sockets go (a
 * socket costs a kilobyte, and thousands of tunnels are held). The upstream
 * socket's counts ($upstream_bytes_*) come to onClose at the end. The client
 * socket's place is taken by a TunnelShell (onNative gives it to the
 * connection): what listened for the socket's 'close' (the connection count,
 * the graceful shutdown's wait) hears the shell's when the tunnel ends, and
 * its byte counts ($bytes_sent) are the socket's before the hand-over plus
 * the addon's. Destroying the shell (the fast shutdown,
 * worker_shutdown_timeout) ends its native tunnel.
 *
 * Nothing read or queued by Node is lost or reordered: the hand-over happens
 * only when neither socket has bytes waiting to be written, and the bytes
 * Node already read (the head's leftovers, the sockets' read buffers) go to
 * the addon first, as the bytes waiting for the other side.
 */

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { getSystemErrorName } from "node:util";
import type { TunnelEnd, TunnelStart } from "./tunnel.js";
import type { TunnelLine } from "./tunnel-close.js";
import { upstreamErrorVerdict } from "./upstream-failure.js";

interface Addon {
  /** `errno`: the failure that ended the tunnel, when it was one (else 0). */
  init(onEnd: (slot: number, how: number, cr: number, cw: number, ur: number, uw: number, errno: number) => void): void;
  start(
    clientFd: number,
    upstreamFd: number,
    fromClient: Buffer | undefined,
    fromUpstream: Buffer | undefined,
    idleMs: number,
    clientSendMs: number,
    upstreamSendMs: number,
    resetTimedout: boolean,
  ): number;
  destroy(slot: number, reset: boolean): [number, number, number, number, number] | undefined;
}

/** The addon's end codes, in its order (native/tunnel.h); 0: no reason recorded, as tunnel.ts's default. */
const ENDS: readonly TunnelEnd[] = [
  "client closed",
  "client closed",
  "upstream closed",
  "client error",
  "upstream error",
  "upstream timed out",
  "client timed out",
  "upstream send timed out",
];

interface Handle {
  fd?: number;
  readStop(): number;
  close(): void;
  onread: unknown;
}
type ShellSocket = Socket & { _handle: Handle | null; encrypted?: boolean };

/** One native tunnel: the client's shell and the request's end. */
interface NativeTunnel {
  readonly slot: number;
  readonly client: TunnelShell;
  readonly onClose: TunnelStart["onClose"];
  /** The sockets' counts at the hand-over: client read, written, upstream read, written. */
  readonly base: readonly [number, number, number, number];
  how: TunnelEnd | undefined;
  /** The errno of the failure that ended it (0: none). */
  errno: number;
  /** The upstream socket's counts at the end: read, written. */
  upstreamBytes: readonly [number, number] | undefined;
  /** The addon still runs it. */
  live: boolean;
}

const tunnels = new Map<number, NativeTunnel>();

/**
 * What stands for the client socket of a native tunnel: its counts, its
 * 'close' (heard once, on the next tick, as a socket's), and destroy(),
 * which ends the tunnel. Four fields and the listeners that waited for the
 * socket's 'close' — not a socket with its stream states, nor an
 * EventEmitter, whose listener table is a dictionary of its own.
 */
export class TunnelShell {
  destroyed = false;

  constructor(
    public bytesRead: number,
    public bytesWritten: number,
    public tunnel: NativeTunnel | undefined,
    /** What listened for the client socket's 'close' (the connection count), then the tunnel's end. */
    private readonly closeListeners: readonly Listener[],
  ) {}

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    process.nextTick(shellClosed, this);
    return this;
  }

  /** No descriptor to finish writing on: as a socket without its handle, it closes. */
  end(): this {
    return this.destroy();
  }

  resume(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  /** @internal the 'close' of a socket, once. */
  closed(): void {
    for (const listener of this.closeListeners) listener.call(this, false);
  }
}

function shellClosed(shell: TunnelShell): void {
  shell.closed();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
type Listener = (...args: any[]) => void;

/** Why an addon that was built could not be loaded (a start notice says so), else undefined. */
/** The addon built at install, from the package root: this file is dist/src/proxy/native-tunnel.js. */
const ADDON_PATH = fileURLToPath(new URL("../../../build/Release/wsgate_tunnel.node", import.meta.url));

const loaded = process.env.WSGATE_NATIVE_TUNNEL === "off" ? {} : loadAddon(ADDON_PATH);
const addon = loaded.addon;
if (addon !== undefined) addon.init(ended);
/** Why a built addon could not be loaded (a start notice says so), else undefined. */
const loadFailure = loaded.failure;

/** The addon at `path`: none when it was not built, and why when it is there but cannot be loaded. */
export function loadAddon(path: string): { readonly addon?: Addon; readonly failure?: string } {
  if (!existsSync(path)) return {};
  try {
    return { addon: createRequire(import.meta.url)(path) as Addon };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { failure: `the native tunnel ${path} could not be loaded (${why}), the TypeScript tunnel is used` };
  }
}

/** Told after each native tunnel's end (tunnel.ts: a shutdown waiting for the last one). */
let nativeEnded: () => void = () => undefined;
export function onNativeTunnelEnded(hook: () => void): void {
  nativeEnded = hook;
}

/** A built addon that failed to load: the warning a serving process logs at start. */
export function nativeTunnelLoadFailure(): string | undefined {
  return loadFailure;
}

/** Whether tunnels may go native in this process. */
export function nativeTunnelLoaded(): boolean {
  return addon !== undefined;
}

/** Native tunnels open in this process. */
export function nativeTunnelsOpen(): number {
  return tunnels.size;
}

/** The socket's descriptor when it is a plain TCP socket with nothing waiting to be written, else -1. */
function plainFd(socket: ShellSocket): number {
  if (socket.encrypted === true || !(socket instanceof Socket) || socket.destroyed || socket.connecting) return -1;
  if (socket.writableLength > 0 || socket.writableEnded || socket.readableEnded) return -1;
  const fd = socket._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : -1;
}

/** Bytes Node read from the socket and nobody took yet, after `first`. */
function unread(socket: Socket, first: Buffer | undefined): Buffer | undefined {
  const chunks: Buffer[] = first && first.length > 0 ? [first] : [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    chunks.push(chunk);
  }
  return chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/**
 * Take the tunnel over when it is a plain one and the addon is here: the shell that stands for the client
 * socket from now on; undefined: the TypeScript tunnel runs it.
 */
export function startNativeTunnel(start: TunnelStart): TunnelShell | undefined {
  if (addon === undefined) return undefined;
  const client = start.client as ShellSocket;
  const upstream = start.upstream as ShellSocket;
  const clientFd = plainFd(client);
  const upstreamFd = plainFd(upstream);
  if (clientFd < 0 || upstreamFd < 0) return undefined;
  const base = [client.bytesRead, client.bytesWritten, upstream.bytesRead, upstream.bytesWritten] as const;
  const fromClient = unread(client, start.fromClient);
  const fromUpstream = unread(upstream, start.fromUpstream);
  const { options } = start;
  let slot: number;
  try {
    slot = addon.start(
      clientFd,
      upstreamFd,
      fromClient,
      fromUpstream,
      options.idleTimeoutMs,
      options.clientSendTimeoutMs,
      options.upstreamSendTimeoutMs,
      options.resetTimedout === true,
    );
  } catch {
    // Out of descriptors or memory: the read bytes go back to the TypeScript tunnel, which gets the same error.
    (start as { fromClient: Buffer | undefined }).fromClient = fromClient;
    (start as { fromUpstream: Buffer | undefined }).fromUpstream = fromUpstream;
    return undefined;
  }
  // What waits for the client socket's 'close' (the connection count) waits for the shell's (once() unwrapped:
  // it comes once), and the tunnel's end after it, as on the socket.
  const waiting = client.rawListeners("close") as Array<{ listener?: Listener } & Listener>;
  const listeners = [...waiting.map((listener) => listener.listener ?? listener), onShellClose];
  const shell = new TunnelShell(base[0], base[1], undefined, listeners);
  const tunnel: NativeTunnel = {
    slot,
    client: shell,
    onClose: start.onClose,
    base,
    how: undefined,
    errno: 0,
    upstreamBytes: undefined,
    live: true,
  };
  tunnels.set(slot, tunnel);
  shell.tunnel = tunnel;
  client.removeAllListeners("close");
  // Nothing waits for the upstream socket's 'close' (its try let it go). Both sockets go now, and their memory.
  for (const socket of [client, upstream]) {
    closeHandle(socket);
    socket.on("error", ignore);
    socket.destroy();
  }
  return shell;
}

function ignore(): void {}

/** Close the Node handle (the addon holds its own descriptor) without the socket hearing of it. */
function closeHandle(socket: ShellSocket): void {
  const handle = socket._handle!;
  handle.readStop();
  handle.onread = ignore;
  socket._handle = null;
  handle.close();
}

/** The addon ended the tunnel. */
function ended(slot: number, how: number, cr: number, cw: number, ur: number, uw: number, errno: number): void {
  const tunnel = tunnels.get(slot);
  if (tunnel === undefined) return;
  tunnel.errno = errno;
  settle(tunnel, how, [cr, cw, ur, uw]);
}

/**
 * The upstream's failure in nginx's words, as the TypeScript tunnel's upstream socket reports it
 * (ngx_http_upstream_process_upgraded(): "recv() failed (104: Connection reset by peer) while
 * proxying upgraded connection"); a client's failure is not logged, as there.
 */
function failureLine(tunnel: NativeTunnel): TunnelLine | undefined {
  if (tunnel.how !== "upstream error" || tunnel.errno <= 0) return undefined;
  const code = getSystemErrorName(-tunnel.errno);
  const err = Object.assign(new Error(code), { errno: -tunnel.errno, code });
  const at = {
    connected: true,
    handshaking: false,
    unixPeer: undefined,
    requestSent: true,
    responding: "upgrade",
  } as const;
  const verdict = upstreamErrorVerdict(err, at);
  return { level: verdict.level === "info" ? "info" : "error", message: verdict.message };
}

/** The tunnel is over: the shell takes its final counts and closes; the request hears once it has. */
function settle(tunnel: NativeTunnel, how: number, counts: readonly number[]): void {
  tunnels.delete(tunnel.slot);
  tunnel.live = false;
  tunnel.how = ENDS[how] ?? "client closed";
  const [cr, cw, ur, uw] = tunnel.base;
  fixCounts(tunnel.client, cr + counts[0]!, cw + counts[1]!);
  tunnel.upstreamBytes = [ur + counts[2]!, uw + counts[3]!];
  tunnel.client.destroy();
}

function fixCounts(shell: TunnelShell, read: number, written: number): void {
  shell.bytesRead = read;
  shell.bytesWritten = written;
}

/** The shell closed: at the tunnel's end, or destroyed from outside (a fast shutdown), which ends the tunnel now. */
function onShellClose(this: TunnelShell): void {
  const tunnel = this.tunnel!;
  this.tunnel = undefined;
  if (tunnel.live) {
    const end = addon!.destroy(tunnel.slot, false);
    settle(tunnel, end?.[0] ?? 0, end?.slice(1) ?? [0, 0, 0, 0]);
  }
  tunnel.onClose(tunnel.how ?? "client closed", failureLine(tunnel), tunnel.upstreamBytes);
  nativeEnded();
}
