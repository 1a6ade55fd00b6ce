/**
 * The tunnel after a 101: bytes flow both ways untouched. Each direction is a
 * pump with back-pressure: when the receiving socket's buffer is full the
 * sending socket stops reading until 'drain'. Nothing is buffered without
 * bound and, in a plain tunnel, no byte is looked at in JavaScript. A
 * WebSocket tunnel whose location needs message boundaries (wsgate_ping,
 * wsgate_max_message, wsgate_message_rate, a $wsgate_ variable in its access
 * log, close frames at shutdown) follows frame headers both ways
 * (tunnel-close.ts, ws-flow.ts); with wsgate_ping its pings, not
 * proxy_read_timeout, tell a live tunnel from a dead one.
 *
 * Closing follows nginx (ngx_http_upstream_process_upgraded): when one side
 * ends or fails, what was already read from it is delivered to the other,
 * then both are closed. The idle timeout (proxy_read_timeout) counts activity
 * in either direction, as nginx re-arms its timer on every event of the tunnel;
 * a side that stops taking what is written to it is cut off after send_timeout
 * (the client) or proxy_send_timeout (the upstream), as in nginx
 * (tunnel-timers.ts). What a tunnel does comes from its location's options
 * (tunnel-options.ts), one shared value per location.
 *
 * Memory matters here — a chat server holds tens of thousands of idle
 * tunnels — so a tunnel is one small object: the socket listeners are shared
 * module-level functions that find their tunnel through the socket (no
 * closures per tunnel), and the timeouts are entries in sweepers (no timer per
 * socket).
 */

import type { Socket } from "node:net";
import { resetSocket } from "../http/socket-reset.js";
import { FramedTunnel, type TunnelLine } from "./tunnel-close.js";
import type { WsTunnelFacts } from "../vars/source.js";
import type { TunnelOptions } from "./tunnel-options.js";
import { nativeTunnelsOpen, onNativeTunnelEnded, startNativeTunnel } from "./native-tunnel.js";
import {
  CLIENT_SIDE,
  UPSTREAM_SIDE,
  forgetTunnel,
  sideDrained,
  sideStalled,
  watchTunnel,
  type TimedTunnel,
  type TimerEnd,
} from "./tunnel-timers.js";

export { tunnelMainFor, tunnelOptionsFor } from "./tunnel-options.js";
export { timeoutLine } from "./tunnel-timers.js";

export type TunnelEnd = "client closed" | "upstream closed" | "client error" | "upstream error" | TimerEnd;

export interface TunnelStart {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent after its request head, before the 101. */
  readonly fromClient: Buffer | undefined;
  /** Bytes the upstream sent after its 101 head. */
  readonly fromUpstream: Buffer | undefined;
  /** The location's tunnel options (tunnelOptionsFor), shared by its tunnels. */
  readonly options: TunnelOptions;
  /** The upgrade is to WebSocket: the tunnel follows its frames if the options say so. */
  readonly websocket?: boolean;
  /** Called when the native tunnel (native-tunnel.ts) took the tunnel over: `shell` stands for the client socket. */
  readonly onNative?: (shell: Socket) => void;
  /**
   * Called once, when both sockets are closed; `line`: why wsgate ended it (a WebSocket feature), for the error
   * log; `upstreamBytes`: the upstream socket's counts (read, written) when the native tunnel let the socket go.
   */
  readonly onClose: (how: TunnelEnd, line: TunnelLine | undefined, upstreamBytes?: readonly [number, number]) => void;
}

const kTunnel = Symbol("wsgate.tunnel");
type TunnelSocket = Socket & { [kTunnel]?: Tunnel };

/** How long a closing side may take to flush what it was given before it is cut off, without a send limit. */
const DEFAULT_LINGER_MS = 60_000;
/** Past the send limit, for the sweepers (which log the timeout) to come first. */
const LINGER_SLACK_MS = 1500;

class Tunnel implements TimedTunnel {
  lastActiveMs = Date.now();
  how: TunnelEnd | undefined;
  open = 2;
  framed: FramedTunnel | undefined;
  stalled = 0;
  clientQueued = 0;
  upstreamQueued = 0;

  constructor(
    readonly client: TunnelSocket,
    readonly upstream: TunnelSocket,
    readonly options: TunnelOptions,
    readonly onClose: (how: TunnelEnd, line: TunnelLine | undefined) => void,
  ) {}

  other(socket: Socket): TunnelSocket {
    return socket === this.client ? this.upstream : this.client;
  }

  side(socket: Socket): number {
    return socket === this.client ? CLIENT_SIDE : UPSTREAM_SIDE;
  }

  end(socket: Socket, reason: "closed" | "error"): void {
    this.how ??= socket === this.client ? `client ${reason}` : `upstream ${reason}`;
    this.framed?.sideEnded(socket === this.client);
  }

  /** wsgate_ping's look, from the idle sweep; false for a tunnel that does not follow frames (not a WebSocket). */
  sweepPings(now: number): boolean {
    this.framed?.sweepPings(now);
    return this.framed !== undefined;
  }

  expire(how: TimerEnd): void {
    // A side that closed leaves what it sent to be written to the other: nginx finalizes only once that is done,
    // and logs the timer of a write that never ends (the other side's send limit).
    const flushing =
      (how === "client timed out" && this.how === "upstream closed") ||
      (how === "upstream send timed out" && this.how === "client closed");
    if (flushing) this.how = how;
    else this.how ??= how;
    this.framed?.expired();
    // Only the client's own timeout marks its connection timed out (c->timedout): that one may end in RST.
    if (how === "client timed out" && this.options.resetTimedout === true) resetSocket(this.client);
    else this.client.destroy();
    this.upstream.destroy();
  }

  /** How long `socket` may take to take what is left for it once the other side closed: a backstop, past its send limit. */
  lingerMs(socket: Socket): number {
    const limit = socket === this.client ? this.options.clientSendTimeoutMs : this.options.upstreamSendTimeoutMs;
    return limit > 0 ? limit + LINGER_SLACK_MS : DEFAULT_LINGER_MS;
  }
}

/** TypeScript tunnels not yet ended (both sockets closed and the request told). */
let openTunnels = 0;

/** Tunnels of this process not yet ended, on either path: a shutdown waits for their log lines. */
function tunnelsOpen(): number {
  return openTunnels + nativeTunnelsOpen();
}

const noTunnelWaiters: Array<() => void> = [];

/** Resolves once no tunnel of this process is open (their requests told, so logged). */
export function whenNoTunnels(): Promise<void> {
  if (tunnelsOpen() === 0) return Promise.resolve();
  return new Promise((resolve) => noTunnelWaiters.push(resolve));
}

function tunnelEnded(): void {
  if (tunnelsOpen() === 0) for (const resolve of noTunnelWaiters.splice(0)) resolve();
}
onNativeTunnelEnded(tunnelEnded);

/** Start the tunnel; the counters of one that follows frames, for its request's $wsgate_ variables. */
export function startTunnel(start: TunnelStart): WsTunnelFacts | undefined {
  // A tunnel with no frames to follow may go to the native tunnel, when it is built.
  const shell = start.options.followFrames && start.websocket ? undefined : startNativeTunnel(start);
  if (shell !== undefined) {
    // The shell answers for the socket where the connection uses it after a hand-over (counts, close, destroy).
    start.onNative?.(shell as unknown as Socket);
    return undefined;
  }
  const client = start.client as TunnelSocket;
  const upstream = start.upstream as TunnelSocket;
  const tunnel = new Tunnel(client, upstream, start.options, start.onClose);
  openTunnels++;
  for (const socket of [client, upstream]) {
    socket[kTunnel] = tunnel;
    socket.on("data", onData);
    socket.on("drain", onDrain);
    socket.on("end", onEnd);
    socket.on("error", onError);
    // `on`, not `once`: 'close' comes once, and once() would add a wrapper and its state to every socket.
    socket.on("close", onClose);
  }
  watchTunnel(tunnel);
  if (start.options.followFrames && start.websocket) tunnel.framed = new FramedTunnel(client, upstream, start.options);
  if (start.fromClient && start.fromClient.length > 0) forward(tunnel, client, start.fromClient);
  if (start.fromUpstream && start.fromUpstream.length > 0) forward(tunnel, upstream, start.fromUpstream);
  client.resume();
  upstream.resume();
  return tunnel.framed;
}

// The listeners below are shared by every tunnel; `this` is the socket that emitted.

function onData(this: TunnelSocket, chunk: Buffer): void {
  const tunnel = this[kTunnel]!;
  tunnel.lastActiveMs = Date.now();
  forward(tunnel, this, chunk);
}

/**
 * Bytes from `source` to the other side, through the frame follower when there
 * is one. A full target stops the reading of `source` and starts its send limit.
 */
function forward(tunnel: Tunnel, source: Socket, chunk: Buffer): void {
  const target = tunnel.other(source);
  const more = tunnel.framed ? tunnel.framed.pass(source, chunk) : target.write(chunk);
  if (more) return;
  source.pause();
  sideStalled(tunnel, tunnel.side(target));
}

/** The socket we write to has room again: read again from the other one. */
function onDrain(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.lastActiveMs = Date.now();
  sideDrained(tunnel, tunnel.side(this));
  tunnel.other(this).resume();
}

function onEnd(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.end(this, "closed");
  const other = tunnel.other(this);
  closeAfterFlush(other, tunnel.lingerMs(other));
}

function onError(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.end(this, "error");
  this.destroy();
  const other = tunnel.other(this);
  closeAfterFlush(other, tunnel.lingerMs(other));
}

function onClose(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  if (--tunnel.open > 0) {
    // Destroyed from this side (a shutdown cutting connections) with no 'end' or 'error' first: the other
    // side is closed too, as after an end, so that the tunnel ends and its request is logged.
    const other = tunnel.other(this);
    if (!other.writableEnded) {
      tunnel.end(this, "closed");
      closeAfterFlush(other, tunnel.lingerMs(other));
    }
    return;
  }
  openTunnels--;
  forgetTunnel(tunnel);
  tunnel.framed?.forget();
  tunnel.onClose(tunnel.how ?? "client closed", tunnel.framed?.line);
  tunnelEnded();
}

/** Send what is queued, then close; a peer that stops reading is cut off after `lingerMs`. */
function closeAfterFlush(socket: Socket, lingerMs: number): void {
  if (socket.destroyed) return;
  socket.setTimeout(lingerMs, () => socket.destroy());
  socket.end(() => socket.destroy());
}
