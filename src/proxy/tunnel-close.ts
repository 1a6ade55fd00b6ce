/**
 * Ending WebSocket tunnels with close frames instead of cutting TCP, at
 * shutdown (`wsgate_close_frames`, `wsgate_shutdown_drain`).
 *
 * A tunnel that may be ended so follows frame boundaries in both directions
 * from its first byte (ws-frames.ts). To end it, each direction is let run to
 * the end of the frame in flight, then gets a 1001 "Going Away" close frame:
 * unmasked to the client (as from a server), masked to the upstream (as from a
 * client). From then on what that direction carries is dropped, as a peer
 * that sent a close sends no more data, but read, so that each peer's own
 * close frame — its answer — is seen; when both have answered both sockets
 * are ended. A peer that does not answer within CLOSE_WAIT_MS is cut off.
 */

import type { Socket } from "node:net";
import { FrameCursor, GOING_AWAY, closeFrame } from "./ws-frames.js";

/** How long the peers have to answer the close frames before the sockets are cut. */
export const CLOSE_WAIT_MS = 3000;

type DirectionState = "forward" | "close-pending" | "closed";

class Direction {
  readonly cursor = new FrameCursor();
  state: DirectionState = "forward";
  constructor(
    readonly source: Socket,
    readonly target: Socket,
    readonly masked: boolean,
  ) {}
}

/** The tunnels of this process that follow frames, for the shutdown. */
const framed = new Set<FramedTunnel>();

export class FramedTunnel {
  private readonly toUpstream: Direction;
  private readonly toClient: Direction;
  private timer: NodeJS.Timeout | undefined;

  constructor(client: Socket, upstream: Socket) {
    this.toUpstream = new Direction(client, upstream, true);
    this.toClient = new Direction(upstream, client, false);
    framed.add(this);
  }

  /** Bytes read from `source`: forwarded (false: the target is full, pause), or dropped once closed. */
  pass(source: Socket, chunk: Buffer): boolean {
    const direction = source === this.toClient.source ? this.toClient : this.toUpstream;
    switch (direction.state) {
      case "forward":
        direction.cursor.advance(chunk, false);
        return direction.target.write(chunk);
      case "close-pending": {
        const boundary = direction.cursor.advance(chunk, true);
        if (boundary < 0) return direction.target.write(chunk);
        if (boundary > 0) direction.target.write(chunk.subarray(0, boundary));
        this.sendClose(direction);
        direction.cursor.advance(chunk.subarray(boundary), false);
        this.answered();
        return true;
      }
      case "closed":
        direction.cursor.advance(chunk, false);
        this.answered();
        return true;
    }
  }

  /** Start the closing handshake with both peers; cut both sockets if it does not finish in time. */
  goAway(): void {
    if (this.timer || this.toClient.state !== "forward") return;
    this.timer = setTimeout(() => this.cut(), CLOSE_WAIT_MS);
    this.timer.unref();
    // A peer already closing: its handshake is under way, let it finish.
    if (this.toClient.cursor.closeSeen || this.toUpstream.cursor.closeSeen) return;
    for (const direction of [this.toClient, this.toUpstream]) {
      direction.state = "close-pending";
      if (direction.cursor.atBoundary) this.sendClose(direction);
    }
  }

  /** Both sockets closed. */
  forget(): void {
    framed.delete(this);
    clearTimeout(this.timer);
  }

  private sendClose(direction: Direction): void {
    direction.state = "closed";
    direction.cursor.closeSeen = false;
    direction.target.write(closeFrame(GOING_AWAY, "", direction.masked));
    // What the source sends from now on is dropped: let it flow.
    direction.source.resume();
  }

  /** Each peer's close frame is its answer: once both have answered, end both sockets. */
  private answered(): void {
    if (this.toClient.state !== "closed" || this.toUpstream.state !== "closed") return;
    // The client answers on the way to the upstream, the upstream on the way to the client.
    if (!this.toUpstream.cursor.closeSeen || !this.toClient.cursor.closeSeen) return;
    this.toClient.target.end();
    this.toUpstream.target.end();
  }

  private cut(): void {
    this.toClient.target.destroy();
    this.toUpstream.target.destroy();
  }
}

/** Every framed tunnel of this process, now. */
export function framedTunnels(): FramedTunnel[] {
  return [...framed];
}

/**
 * Send the close frames of `tunnels` spread evenly over `spreadMs` (all at
 * once when 0), so that thousands of clients do not reconnect in the same
 * second. Returns a function that sends the rest at once.
 */
export function goAwaySpread(tunnels: readonly FramedTunnel[], spreadMs: number): () => void {
  let next = 0;
  const start = Date.now();
  const due = (now: number): number =>
    spreadMs <= 0
      ? tunnels.length
      : Math.min(tunnels.length, Math.floor(((now - start) / spreadMs) * tunnels.length) + 1);
  const step = (): void => {
    const upTo = due(Date.now());
    while (next < upTo) tunnels[next++]!.goAway();
    if (next >= tunnels.length) clearInterval(ticker);
  };
  const tick = tunnels.length > 0 ? Math.max(10, Math.min(250, spreadMs / tunnels.length)) : 10;
  const ticker = setInterval(step, tick);
  ticker.unref();
  step();
  return () => {
    clearInterval(ticker);
    while (next < tunnels.length) tunnels[next++]!.goAway();
  };
}
