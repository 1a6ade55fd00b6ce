/**
 * The tunnel after a 101: bytes flow both ways untouched. Each direction is a
 * pump with back-pressure: when the receiving socket's buffer is full the
 * sending socket stops reading until 'drain'. Nothing is buffered without
 * bound and no byte is looked at in JavaScript.
 *
 * Closing follows nginx (ngx_http_upstream_process_upgraded): when one side
 * ends or fails, what was already read from it is delivered to the other,
 * then both are closed. The idle timeout (proxy_read_timeout) counts activity
 * in either direction, as nginx re-arms its timer on every event of the tunnel.
 *
 * Memory matters here — a chat server holds tens of thousands of idle
 * tunnels — so a tunnel is one small object: the socket listeners are shared
 * module-level functions that find their tunnel through the socket (no
 * closures per tunnel), and the idle timeout is an entry in one sweeper (no
 * timer per socket).
 */

import type { Socket } from "node:net";
import { IdleSweeper, type IdleEntry } from "./idle-sweeper.js";
import { FramedTunnel } from "./tunnel-close.js";

export type TunnelEnd = "client closed" | "upstream closed" | "client error" | "upstream error" | "timeout";

export interface TunnelOptions {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent after its request head, before the 101. */
  readonly fromClient: Buffer | undefined;
  /** Bytes the upstream sent after its 101 head. */
  readonly fromUpstream: Buffer | undefined;
  readonly idleTimeoutMs: number;
  /** The upgrade is to WebSocket: the tunnel may follow its frames (see setTunnelFraming). */
  readonly websocket?: boolean;
  /** Called once, when both sockets are closed. */
  readonly onClose: (how: TunnelEnd) => void;
}

const kTunnel = Symbol("wsgate.tunnel");
type TunnelSocket = Socket & { [kTunnel]?: Tunnel };

const sweeper = new IdleSweeper();

/** Whether WebSocket tunnels follow frame boundaries, to be ended with close frames at shutdown. */
let framing = false;

/** Set by the process at start from `wsgate_close_frames` / `wsgate_shutdown_drain`. */
export function setTunnelFraming(on: boolean): void {
  framing = on;
}

/** How long a closing side may take to flush what it was given before it is cut off. */
const DEFAULT_LINGER_MS = 60_000;

class Tunnel implements IdleEntry {
  lastActiveMs = Date.now();
  how: TunnelEnd | undefined;
  open = 2;
  framed: FramedTunnel | undefined;

  constructor(
    readonly client: TunnelSocket,
    readonly upstream: TunnelSocket,
    readonly idleLimitMs: number,
    readonly onClose: (how: TunnelEnd) => void,
  ) {}

  other(socket: Socket): TunnelSocket {
    return socket === this.client ? this.upstream : this.client;
  }

  end(socket: Socket, reason: "closed" | "error"): void {
    this.how ??= socket === this.client ? `client ${reason}` : `upstream ${reason}`;
  }

  expire(): void {
    this.how ??= "timeout";
    this.client.destroy();
    this.upstream.destroy();
  }

  get lingerMs(): number {
    return this.idleLimitMs > 0 ? this.idleLimitMs : DEFAULT_LINGER_MS;
  }
}

export function startTunnel(options: TunnelOptions): void {
  const client = options.client as TunnelSocket;
  const upstream = options.upstream as TunnelSocket;
  const tunnel = new Tunnel(client, upstream, options.idleTimeoutMs, options.onClose);
  for (const socket of [client, upstream]) {
    socket[kTunnel] = tunnel;
    socket.on("data", onData);
    socket.on("drain", onDrain);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.once("close", onClose);
  }
  if (options.idleTimeoutMs > 0) sweeper.add(tunnel);
  if (framing && options.websocket) tunnel.framed = new FramedTunnel(client, upstream);
  if (options.fromClient && options.fromClient.length > 0) forward(tunnel, client, options.fromClient);
  if (options.fromUpstream && options.fromUpstream.length > 0) forward(tunnel, upstream, options.fromUpstream);
  client.resume();
  upstream.resume();
}

// The listeners below are shared by every tunnel; `this` is the socket that emitted.

function onData(this: TunnelSocket, chunk: Buffer): void {
  const tunnel = this[kTunnel]!;
  tunnel.lastActiveMs = Date.now();
  if (tunnel.framed !== undefined) forward(tunnel, this, chunk);
  else if (!tunnel.other(this).write(chunk)) this.pause();
}

/** Bytes from `source` to the other side, through the frame follower when there is one. */
function forward(tunnel: Tunnel, source: Socket, chunk: Buffer): void {
  const more = tunnel.framed ? tunnel.framed.pass(source, chunk) : tunnel.other(source).write(chunk);
  if (!more) source.pause();
}

/** The socket we write to has room again: read again from the other one. */
function onDrain(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.lastActiveMs = Date.now();
  tunnel.other(this).resume();
}

function onEnd(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.end(this, "closed");
  closeAfterFlush(tunnel.other(this), tunnel.lingerMs);
}

function onError(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  tunnel.end(this, "error");
  this.destroy();
  closeAfterFlush(tunnel.other(this), tunnel.lingerMs);
}

function onClose(this: TunnelSocket): void {
  const tunnel = this[kTunnel]!;
  if (--tunnel.open > 0) return;
  sweeper.remove(tunnel);
  tunnel.framed?.forget();
  tunnel.onClose(tunnel.how ?? "client closed");
}

/** Send what is queued, then close; a peer that stops reading is cut off after `lingerMs`. */
function closeAfterFlush(socket: Socket, lingerMs: number): void {
  if (socket.destroyed) return;
  socket.setTimeout(lingerMs, () => socket.destroy());
  socket.end(() => socket.destroy());
}
