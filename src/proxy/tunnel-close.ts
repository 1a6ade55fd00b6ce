/**
 * WebSocket tunnels that follow frames (ws-flow.ts, one flow each way), and
 * how wsgate ends them with close frames rather than a TCP cut: at shutdown
 * (`wsgate_close_frames`, `wsgate_shutdown_drain`: 1001 both ways), and when
 * a side breaks a limit or a rule of a location's WebSocket features
 * (`wsgate_max_message` 1009, `wsgate_message_rate` 1008, a protocol error
 * 1002 to that side, 1001 to the other), or does not answer pings
 * (`wsgate_ping`: it is cut, the other side gets 1001).
 *
 * Ending with a code per side: the offending direction is cut at the frame
 * boundary it is at and its 1001 goes to the other side at once; the other
 * direction finishes its frame in flight, then the offender gets its code.
 * From then on what each side sends is read and dropped, watching for its
 * own close frame (its answer); when both have answered both sockets are
 * ended. A peer that does not answer within CLOSE_WAIT_MS is cut off.
 *
 * The tunnel also keeps what its $wsgate_ variables print and its pings'
 * state: a few numbers on the one object, no timer until it closes.
 */

import type { Socket } from "node:net";
import type { WsTunnelFacts } from "../vars/source.js";
import type { TunnelOptions } from "./tunnel-options.js";
import { CLOSED, FrameFlow, type FlowOwner } from "./ws-flow.js";
import { GOING_AWAY } from "./ws-frames.js";

/** How long the peers have to answer the close frames before the sockets are cut. */
export const CLOSE_WAIT_MS = 3000;

/** An error-log line about the tunnel's end, logged with the request's context when it closes. */
export interface TunnelLine {
  readonly level: "error" | "info";
  readonly message: string;
}

const UPGRADED = "while proxying upgraded connection";

/** The tunnels of this process that follow frames, for the shutdown. */
const framed = new Set<FramedTunnel>();

export class FramedTunnel implements FlowOwner, WsTunnelFacts {
  private readonly toUpstream: FrameFlow;
  private readonly toClient: FrameFlow;
  private timer: NodeJS.Timeout | undefined;
  readonly checks: boolean;
  readonly maxMessage: number;
  readonly pinging: boolean;
  closeCode = 0;
  closedBy = "";
  pingRttMs = -1;
  /** wsgate_message_rate's bucket: the excess (× 1000) and when it was last counted (0: no message yet). */
  private excess = 0;
  private lastMessageMs = 0;
  /** The code for the side whose frame is being cut off. */
  private cutCode = 0;
  /** Why wsgate ended the tunnel, for the error log. */
  line: TunnelLine | undefined;

  constructor(
    client: Socket,
    upstream: Socket,
    private readonly options: TunnelOptions,
  ) {
    this.toUpstream = new FrameFlow(this, client, upstream, true);
    this.toClient = new FrameFlow(this, upstream, client, false);
    this.checks = options.checks === true;
    this.maxMessage = options.maxMessage ?? 0;
    this.pinging = options.ping !== undefined;
    framed.add(this);
  }

  get messagesFromClient(): number {
    return this.toUpstream.messages;
  }
  get messagesFromUpstream(): number {
    return this.toClient.messages;
  }
  get bytesFromClient(): number {
    return this.toUpstream.bytes;
  }
  get bytesFromUpstream(): number {
    return this.toClient.bytes;
  }

  /** Bytes read from `source`: forwarded (false: the target is full, pause), or dropped once closed. */
  pass(source: Socket, chunk: Buffer): boolean {
    return (source === this.toClient.source ? this.toClient : this.toUpstream).pass(chunk);
  }

  /** Start the closing handshake with both peers (1001); cut both sockets if it does not finish in time. */
  goAway(): void {
    if (this.timer || this.toClient.state !== 0 || this.toUpstream.state !== 0) return;
    this.wait();
    // A peer already closing: its handshake is under way, let it finish.
    if (this.toClient.closeSeen || this.toUpstream.closeSeen) return;
    this.byWsgate(GOING_AWAY);
    this.toClient.closeWith(GOING_AWAY);
    this.toUpstream.closeWith(GOING_AWAY);
  }

  /** The side's TCP end or error: who closed, when no close frame came first. */
  sideEnded(client: boolean): void {
    if (this.closedBy === "") this.closedBy = client ? "client" : "upstream";
  }

  /** A timer of the tunnel (proxy_read_timeout, a send limit) ends it. */
  expired(): void {
    this.byWsgate(0);
  }

  /** Both sockets closed. */
  forget(): void {
    framed.delete(this);
    clearTimeout(this.timer);
  }

  /** wsgate_ping, once a sweep: ping a side quiet for the interval; a side quiet past the timeout after its ping is dead. */
  sweepPings(now: number): void {
    if (this.toClient.state !== 0 || this.toUpstream.state !== 0) return;
    if (!this.sweepSide(this.toUpstream, now)) this.sweepSide(this.toClient, now);
  }

  /** The side `from` comes from: pinged when due, ended when dead (true). */
  private sweepSide(from: FrameFlow, now: number): boolean {
    const ping = this.options.ping;
    if (!ping) return false;
    if (from.pingMs <= from.heardMs) {
      if (now - from.heardMs >= ping.intervalMs) this.otherFlow(from).ping();
      return false;
    }
    if (now - from.pingMs < ping.timeoutMs) return false;
    this.dead(from, ping.timeoutMs);
    return true;
  }

  // FlowOwner: what the flows ask.

  messageStarts(flow: FrameFlow): boolean {
    const rate = this.options.messageRate;
    if (!rate || !flow.fromClient) return true;
    // ngx_http_limit_req_lookup(): the excess drains at `rate` a second, each message adds 1000.
    const now = Date.now();
    if (this.lastMessageMs === 0) {
      this.lastMessageMs = now;
      return true;
    }
    const ms = Math.max(0, now - this.lastMessageMs);
    const excess = Math.max(0, this.excess - Math.trunc((rate.rate * ms) / 1000) + 1000);
    if (excess > rate.burst) {
      const shown = `${Math.trunc(excess / 1000)}.${String(excess % 1000).padStart(3, "0")}`;
      this.offendsWith(1008, { level: "error", message: `limiting WebSocket messages, excess: ${shown} ${UPGRADED}` });
      return false;
    }
    this.excess = excess;
    if (ms > 0) this.lastMessageMs = now;
    return true;
  }

  offends(flow: FrameFlow, code: number, what: string): void {
    const side = flow.fromClient ? "client" : "upstream";
    const verb = code === 1002 ? "broke the WebSocket protocol with" : "sent";
    // A client's fault is logged at info, as nginx logs a client's bad request; an upstream's at error.
    const level = flow.fromClient ? "info" : "error";
    this.offendsWith(code, { level, message: `${side} ${verb} ${what} ${UPGRADED}` });
  }

  cutOff(flow: FrameFlow): void {
    const code = this.cutCode;
    this.byWsgate(code);
    // The offender's direction is at the boundary: the other side gets its 1001 now.
    flow.closeWith(GOING_AWAY);
    this.otherFlow(flow).closeWith(code);
    this.wait();
  }

  closeFrameSeen(flow: FrameFlow, code: number): void {
    if (this.closedBy !== "") return;
    this.closedBy = flow.fromClient ? "client" : "upstream";
    this.closeCode = code;
  }

  pongHeard(flow: FrameFlow): void {
    if (flow.fromClient) this.pingRttMs = Date.now() - flow.pingMs;
  }

  pingSent(flow: FrameFlow): void {
    this.otherFlow(flow).pingMs = Date.now();
  }

  /** Each peer's close frame is its answer: once both have answered, end both sockets. */
  answered(): void {
    const { toClient, toUpstream } = this;
    if (toClient.state !== CLOSED || toUpstream.state !== CLOSED) return;
    if (!toUpstream.closeSeen || !toClient.closeSeen) return;
    endSocket(toClient.target);
    endSocket(toUpstream.target);
  }

  private offendsWith(code: number, line: TunnelLine): void {
    this.cutCode = code;
    this.line ??= line;
  }

  /** A side that answered nothing: cut it; the other side gets 1001 (if no frame of the dead side is half sent to it). */
  private dead(from: FrameFlow, timeoutMs: number): void {
    const side = from.fromClient ? "client" : "upstream";
    this.line ??= { level: "info", message: `${side} did not answer ping within ${timeText(timeoutMs)} ${UPGRADED}` };
    this.byWsgate(GOING_AWAY);
    from.source.destroy();
    this.otherFlow(from).drop(false);
    if (!from.atBoundary) {
      from.target.destroy();
      return;
    }
    from.closeWith(GOING_AWAY);
    from.drop(true);
    this.wait();
  }

  private byWsgate(code: number): void {
    if (this.closedBy !== "") return;
    this.closedBy = "wsgate";
    this.closeCode = code;
  }

  private otherFlow(flow: FrameFlow): FrameFlow {
    return flow === this.toClient ? this.toUpstream : this.toClient;
  }

  private wait(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.cut(), CLOSE_WAIT_MS);
    this.timer.unref();
  }

  private cut(): void {
    this.toClient.target.destroy();
    this.toUpstream.target.destroy();
  }
}

function endSocket(socket: Socket): void {
  if (!socket.destroyed) socket.end();
}

/** A time as a configuration writes it: "10s", "1500ms". */
function timeText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The framed tunnels open now, as they are (the metrics add up their counts when asked). */
export function openFramedTunnels(): ReadonlySet<FramedTunnel> {
  return framed;
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
