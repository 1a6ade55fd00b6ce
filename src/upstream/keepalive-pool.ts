/**
 * Idle upstream connections kept for reuse (ngx_http_upstream_keepalive_module):
 * `keepalive N` keeps at most N idle connections per group (per process);
 * the most recently cached connection to the chosen peer is handed out first,
 * and when the cache is full the least recently cached one is closed.
 *
 * An idle connection is watched: data or end-of-stream from the upstream, an
 * error, or keepalive_timeout of silence closes it and drops it from the
 * cache at once, so a dead connection is never handed out. A connection is
 * not cached again after keepalive_requests requests or once keepalive_time
 * has passed since it was opened.
 */

import type { Socket } from "node:net";

export interface KeepaliveConf {
  /** `keepalive N`: idle connections kept. */
  readonly max: number;
  /** keepalive_requests (1000). */
  readonly requests: number;
  /** keepalive_time (1h). */
  readonly timeMs: number;
  /** keepalive_timeout (60s). */
  readonly timeoutMs: number;
}

/** A connection to one peer, with what the pool needs to know of its life. */
export interface UpstreamConnection {
  readonly socket: Socket;
  /** The peer's address text ("127.0.0.1:8080"). */
  readonly peer: string;
  readonly openedMs: number;
  /** Requests sent on it so far. */
  requests: number;
}

interface Idle {
  readonly connection: UpstreamConnection;
  readonly stop: () => void;
}

export class KeepalivePool {
  /** Most recently cached first. */
  private idle: Idle[] = [];

  constructor(readonly conf: KeepaliveConf) {}

  get size(): number {
    return this.idle.length;
  }

  /** An idle connection to `peer`, removed from the cache; undefined when there is none. */
  take(peer: string): UpstreamConnection | undefined {
    const index = this.idle.findIndex((item) => item.connection.peer === peer);
    if (index === -1) return undefined;
    const [item] = this.idle.splice(index, 1);
    item!.stop();
    return item!.connection;
  }

  /** Whether a connection may still be cached after its request (keepalive_requests, keepalive_time). */
  accepts(connection: UpstreamConnection, nowMs: number): boolean {
    return connection.requests < this.conf.requests && nowMs - connection.openedMs <= this.conf.timeMs;
  }

  /**
   * Cache a connection whose response was read whole. The caller has removed
   * its own listeners; the pool watches the socket until it is taken.
   */
  put(connection: UpstreamConnection): void {
    const socket = connection.socket;
    if (socket.destroyed || !socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    if (this.idle.length >= this.conf.max) {
      const oldest = this.idle.pop()!;
      oldest.stop();
      oldest.connection.socket.destroy();
    }
    const drop = (): void => {
      const index = this.idle.indexOf(item);
      if (index !== -1) this.idle.splice(index, 1);
      stop();
      socket.destroy();
    };
    const stop = (): void => {
      socket.off("data", drop);
      socket.off("end", drop);
      socket.off("close", drop);
      socket.off("error", drop);
      socket.off("timeout", drop);
      socket.setTimeout(0);
    };
    const item: Idle = { connection, stop };
    socket.on("data", drop);
    socket.on("end", drop);
    socket.on("close", drop);
    socket.on("error", drop);
    socket.on("timeout", drop);
    socket.setTimeout(this.conf.timeoutMs);
    this.idle.unshift(item);
    socket.resume();
  }

  closeAll(): void {
    for (const item of this.idle) {
      item.stop();
      item.connection.socket.destroy();
    }
    this.idle = [];
  }
}
