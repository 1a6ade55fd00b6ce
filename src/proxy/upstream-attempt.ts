/**
 * One try of one peer (nginx's peer connection with its timers): it takes a
 * cached connection or opens one, owns every listener it puts on the socket
 * (all removed before the socket is cached or dropped), runs the timers of
 * its phase — proxy_connect_timeout while connecting, proxy_send_timeout
 * while the request is blocked, proxy_read_timeout once it is written — and
 * reports to the peer group exactly once, through group.free(), however the
 * try ends.
 */

import { connect, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { LocConf, UpstreamAddress } from "../config/model.js";
import type { Peer, PeerOutcome, UpstreamGroup } from "../upstream/group.js";
import type { UpstreamConnection } from "../upstream/keepalive-pool.js";
import { peerSeries, type PeerSeries } from "../upstream/peer-metrics.js";
import {
  closeAfterFailedCheck,
  connectTls,
  keepSession,
  verifyUpstream,
  type UpstreamTls,
} from "../upstream/upstream-tls.js";
import type { UpstreamTry } from "../vars/source.js";
import type { ResponseHead } from "./response-head.js";
import { SendWatch } from "./send-watch.js";

/** Wraps a callback so that a throw in it ends the request, not the process (ProxySession.guard). */
export type Guard = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => void;

/**
 * Which timer fired: proxy_connect_timeout (connecting, or in the TLS
 * handshake to an https upstream), proxy_send_timeout, or proxy_read_timeout
 * before the head.
 */
export type AttemptTimeout = "connect" | "handshake" | "send" | "read";

export interface AttemptEvents {
  connected(): void;
  error(err: Error): void;
  timedOut(which: AttemptTimeout): void;
}

const ignore = (): void => undefined;

/** A try's line in $upstream_addr, $upstream_status, … (-1: not reached). */
export function tryRecord(addr: string): UpstreamTry {
  return {
    addr,
    status: 0,
    connectMs: -1,
    headerMs: -1,
    responseMs: -1,
    bytesReceived: 0,
    bytesSent: 0,
    responseHeaders: [],
  };
}

export class UpstreamAttempt {
  readonly startMs = Date.now();
  readonly socket: Socket;
  /** The connection came from the keepalive cache. */
  readonly reused: boolean;
  connected: boolean;
  /** TCP is up and the TLS handshake to an https upstream is under way (or failed its checks). */
  handshaking = false;
  /** Some of the request went to this upstream (nginx's u->request_sent). */
  requestSent = false;
  /** The request said `Connection: close`: the connection is not worth keeping. */
  sentClose = true;
  /** The peer's address (kept once the peer is freed: log lines name it). */
  readonly address: UpstreamAddress;
  private readonly conn: UpstreamConnection;
  private peer: Peer | undefined;
  private unbind: Array<() => void> = [];
  /** The socket was let go (cached or destroyed): nothing more is written to it. */
  private released = false;
  private cached = false;
  private offTimeout: (() => void) | undefined;
  private readonly watch: SendWatch;
  /** What a cached connection had carried before this try: $upstream_bytes_* count this request's only. */
  private readonly readBase: number;
  private readonly writtenBase: number;
  /** The peer's metrics (a tunnel of this try is counted until its TunnelledTry frees the peer). */
  private readonly series: PeerSeries;
  /** proxy_read_timeout is on the socket (Node restarts it at each read: the head's arrival restarted it). */
  private readTimerArmed = false;

  constructor(
    private readonly group: UpstreamGroup,
    peer: Peer,
    /** This try's line in $upstream_addr, $upstream_status, … */
    readonly record: UpstreamTry,
    private readonly loc: LocConf,
    events: AttemptEvents,
    private readonly guard: Guard,
    /** proxy_pass https://: the request's TLS settings. */
    tls?: UpstreamTls,
  ) {
    this.peer = peer;
    this.address = peer.address;
    this.series = peerSeries(group.name, peer);
    this.series.requests.value++;
    // A TLS connection is cached apart from a plain one to the same peer.
    const poolKey = tls ? `${peer.address.text} ssl` : peer.address.text;
    const cached = group.keepalive?.take(poolKey);
    if (cached) {
      this.reused = true;
      this.connected = true;
      this.conn = cached;
      this.socket = cached.socket;
      record.connectMs = 0;
      this.socket.setTimeout(0);
    } else {
      this.reused = false;
      this.connected = false;
      const socket = tls
        ? connectTls(tls, group, peer.address)
        : peer.address.kind === "unix"
          ? connect({ path: peer.address.path })
          : connect({ host: peer.address.host, port: peer.address.port });
      this.socket = socket;
      this.conn = { socket, peer: poolKey, openedMs: this.startMs, requests: 0 };
      socket.setNoDelay(true);
      socket.setTimeout(loc.proxyConnectTimeoutMs);
    }
    this.readBase = this.socket.bytesRead;
    this.writtenBase = this.socket.bytesWritten;
    this.watch = new SendWatch(
      this.socket,
      loc.proxySendTimeoutMs,
      this.guard(() => events.timedOut("send")),
    );
    this.on("error", (err: Error) => events.error(err));
    this.offTimeout = this.on("timeout", () =>
      events.timedOut(this.connected ? "read" : this.handshaking ? "handshake" : "connect"),
    );
    if (this.reused) return;
    if (tls) this.watchHandshake();
    this.on(tls ? "secureConnect" : "connect", () => {
      if (tls) {
        // ngx_http_upstream_ssl_handshake(): proxy_ssl_verify's checks fail the try as an error.
        const failure = verifyUpstream(this.socket as TLSSocket, tls);
        if (failure) {
          events.error(failure);
          return;
        }
        this.handshaking = false;
      }
      this.connected = true;
      record.connectMs = Date.now() - this.startMs;
      // Sending: only proxy_send_timeout runs, and only while the upstream does not take the bytes.
      this.socket.setTimeout(0);
      events.connected();
    });
  }

  /** TCP connected: the handshake starts (its failures are named so); a session to resume later is kept. */
  private watchHandshake(): void {
    this.on("connect", () => {
      this.handshaking = true;
    });
    this.on("session", (session: Buffer) => keepSession(this.socket as TLSSocket, session));
  }

  /** Listen on the socket through the guard; the listener goes when the try lets the socket go. */
  on(event: string, listener: (...args: never[]) => void): () => void {
    const guarded = this.guard(listener as (...args: unknown[]) => void);
    this.socket.on(event, guarded);
    const off = (): void => void this.socket.off(event, guarded);
    this.unbind.push(off);
    return off;
  }

  /** For RequestBodyBuffer.writeTo(): the next 'drain'. */
  once(event: "drain", listener: () => void): void {
    const off = this.on(event, () => {
      off();
      listener();
    });
  }

  /**
   * What is written until the next tick leaves in one write, as nginx's
   * writev: one segment to the upstream, and no reset from an upstream that
   * answers and closes after reading only the head's segment.
   */
  corkForTick(): void {
    this.socket.cork();
    process.nextTick(
      this.guard(() => {
        this.socket.uncork();
        // Now the bytes met the kernel: what it did not take starts proxy_send_timeout's clock.
        this.watch.wrote();
      }),
    );
  }

  /** Write part of the request; false asks the caller to wait for 'drain'. */
  write(data: string | Buffer): boolean {
    const ok =
      typeof data === "string"
        ? this.socket.write(data, "latin1", this.watch.flushed)
        : this.socket.write(data, this.watch.flushed);
    this.watch.wrote();
    return ok;
  }

  /** The head went out: one more request on this connection. */
  headWritten(sentClose: boolean): void {
    this.requestSent = true;
    this.sentClose = sentClose;
    this.conn.requests++;
  }

  /** The whole request is in the socket: once the upstream took it, `then`, and proxy_read_timeout runs. */
  requestWritten(then: () => void): void {
    this.watch.whenFlushed(() => {
      this.armReadTimer();
      then();
    });
  }

  /**
   * The response head came: the request's timers stop (the relay keeps
   * proxy_read_timeout on the socket for the body, with its own listener).
   */
  responseHeadArrived(): void {
    this.watch.stop();
    this.offTimeout?.();
    this.offTimeout = undefined;
    // Once armed, the read that brought the head has just restarted it: setting it again would only make a new timer.
    if (!this.readTimerArmed) this.armReadTimer();
    this.series.response.observe((Date.now() - this.startMs) / 1000);
  }

  private armReadTimer(): void {
    this.readTimerArmed = true;
    this.socket.setTimeout(this.loc.proxyReadTimeoutMs);
  }

  /** The try is over for the peer: its connection count goes down, its health is updated (once). */
  free(outcome: PeerOutcome): boolean {
    const peer = this.peer;
    if (!peer) return false;
    this.peer = undefined;
    if (outcome === "failed") this.series.failures.value++;
    return this.group.free(peer, outcome, Date.now());
  }

  /** Times and bytes of the try, for $upstream_response_time and friends. */
  closeRecord(): void {
    closeTryRecord(this.record, this.startMs, this.socket, this.readBase, this.writtenBase);
  }

  /** Close the connection: every listener of the try goes, an error after that is nobody's. */
  destroy(): void {
    // A connection already handed to the keepalive cache is the cache's now.
    if (this.cached) return;
    this.release();
    if (this.socket.destroyed) return;
    if (this.handshaking && closeAfterFailedCheck(this.socket as TLSSocket)) return;
    this.socket.on("error", ignore);
    this.socket.destroy();
  }

  /**
   * The connection may go back to the cache (nginx's u->keepalive): a whole
   * HTTP/1.1 response not framed by the close, no `Connection: close` either
   * way, and the request body sent whole.
   */
  reusable(head: ResponseHead, framing: string, bodySentWhole: boolean): boolean {
    const pool = this.group.keepalive;
    if (!pool || this.sentClose || framing === "close" || head.version < 1001 || !bodySentWhole) return false;
    for (const [name, value] of head.headers) {
      if (name.toLowerCase() === "connection" && /(^|[\s,])close($|[\s,])/i.test(value)) return false;
    }
    return pool.accepts(this.conn, Date.now());
  }

  /** Back to the group's keepalive cache, which watches it from now on. */
  cache(): void {
    this.cached = true;
    this.release();
    this.socket.setTimeout(0);
    this.group.keepalive!.put(this.conn);
  }

  /**
   * A tunnel takes the socket over (its own listeners, idle and send limits):
   * every listener of the try and its send watch go (the tunnel's record names
   * an error in nginx's words, "while proxying upgraded connection").
   */
  handOverToTunnel(): TunnelledTry {
    if (this.peer) this.series.tunnels.value++;
    this.watch.stop();
    for (const off of this.unbind) off();
    this.unbind = [];
    this.offTimeout = undefined;
    const peer = this.peer;
    // The tunnel's end frees the peer from here on: the try (its listeners, its request's closures) may go.
    this.peer = undefined;
    return new TunnelledTry(this.record, this.startMs, this.socket, this.readBase, this.writtenBase, {
      group: this.group,
      peer,
      series: this.series,
    });
  }

  /** Still this request's connection, and open. */
  get live(): boolean {
    return !this.released && !this.socket.destroyed;
  }

  private release(): void {
    this.released = true;
    this.watch.stop();
    for (const off of this.unbind) off();
    this.unbind = [];
    this.offTimeout = undefined;
  }
}

function closeTryRecord(
  record: UpstreamTry,
  startMs: number,
  socket: { readonly bytesRead: number; readonly bytesWritten: number },
  readBase: number,
  writtenBase: number,
): void {
  if (record.responseMs < 0) record.responseMs = Date.now() - startMs;
  record.bytesReceived = socket.bytesRead - readBase;
  record.bytesSent = socket.bytesWritten - writtenBase;
}

/**
 * A try whose connection a tunnel took: all its end needs (the record's times
 * and counts, the peer to free), so that a tunnel open for hours keeps one
 * small object and not the try with its request's listeners and closures.
 */
export class TunnelledTry {
  constructor(
    readonly record: UpstreamTry,
    private readonly startMs: number,
    private socket: Socket | undefined,
    private readonly readBase: number,
    private readonly writtenBase: number,
    private held: { group: UpstreamGroup; peer: Peer | undefined; series: PeerSeries } | undefined,
  ) {}

  /** The native tunnel let the socket go: its counts come to close() instead. */
  forgetSocket(): void {
    this.socket = undefined;
  }

  /**
   * The tunnel ended: its times and counts ($upstream_response_time, $upstream_bytes_*), from the socket or
   * `bytes` (read, written: the native tunnel's), and its peer freed (once).
   */
  close(bytes?: readonly [number, number]): void {
    const counts = bytes ?? [this.socket?.bytesRead ?? this.readBase, this.socket?.bytesWritten ?? this.writtenBase];
    closeTryRecord(
      this.record,
      this.startMs,
      { bytesRead: counts[0], bytesWritten: counts[1] },
      this.readBase,
      this.writtenBase,
    );
    this.free();
  }

  /** The peer's connection count goes down (least_conn, max_conns), its tunnel count too; once. */
  free(): void {
    const held = this.held;
    this.held = undefined;
    if (held?.peer === undefined) return;
    held.series.tunnels.value--;
    held.group.free(held.peer, "ok", Date.now());
  }
}
