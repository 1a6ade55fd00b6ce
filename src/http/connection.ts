/**
 * A client connection: reads request heads, hands each request to its
 * handler, feeds it the request body, and after the response either waits
 * for the next request (keep-alive, pipelining) or closes. A handler may take
 * the socket over for a tunnel.
 *
 * States: "head" (reading a request head), "request" (a request in flight;
 * body bytes go to its body sink, later bytes wait in `pending`), "closed",
 * "detached" (the socket belongs to a tunnel now).
 *
 * Reading a head has nginx's fixed deadlines, which bytes do not push back
 * (ngx_http_init_connection, ngx_http_read_request_header, ngx_http_keepalive_handler):
 * client_header_timeout from the accept to the end of the first head; on a
 * kept-alive connection keepalive_timeout to the next request's first byte,
 * then client_header_timeout. A request's handler sets the timeouts of its
 * phases (socket idle timers, as nginx's body and send timers). Every way in
 * is guarded: a throw closes this connection only (crash()).
 */

import type { Socket } from "node:net";
import type { SrvConf } from "../config/model.js";
import type { ConnectionInfo } from "./request.js";
import { HeadReader, type HeadParse, type RequestHead } from "./request-head.js";
import { Deadline } from "./deadlines.js";
import type { BodyFraming } from "./request-headers.js";
import type { ProxyProtocolFacts, TlsFacts } from "../vars/source.js";
import { stripMappedV4 } from "./client-address.js";
import { BodyFeed } from "./body-feed.js";
import { requestCounter, takeConnectionId } from "./connection-ids.js";
import { resetSocket } from "./socket-reset.js";
import {
  attachListeners,
  detachListeners,
  type AbortReason,
  type BodySink,
  type ConnectionEvents,
} from "./connection-events.js";

export type { AbortReason, BodySink, ConnectionEvents } from "./connection-events.js";

/** Bytes held for the next request while one is in flight, before reading pauses. */
const PENDING_LIMIT = 64 * 1024;

const DISCARD: BodySink = { data: () => true, end: () => undefined, fail: () => undefined };

export class ClientConnection implements ConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  // The local address costs a getsockname(): asked for only when a variable or a server choice needs it.
  private local: { address: string; port: number } | undefined;
  requests = 0;
  /** Body bytes of the current request read so far, framing included ($request_length counts them). */
  bodyBytesRead = 0;
  /** The next request comes from bytes already read when the last one finished (nginx's hc->pipeline): $pipe. */
  pipelined = false;
  /** Set by the handler of the request in flight: called if the client goes away first. */
  onAbortHandler: ((reason: AbortReason) => void) | undefined;
  private state: "head" | "request" | "closed" | "detached" = "head";
  /** The request head being read (state "head"). */
  private readonly reader: HeadReader;
  /** client_header_timeout / keepalive_timeout while in state "head". */
  private readonly deadline = new Deadline(this);
  /** Waiting on a kept-alive connection: the next request's first byte starts client_header_timeout. */
  private idleWait = false;
  /** Bytes read past the request in flight: the next request's, or a tunnel's first. */
  private pending: Buffer | undefined;
  private crashed = false;
  /** A timeout ends this connection under reset_timedout_connection: closed with RST, not FIN. */
  private resetting = false;
  /** The head of the request in flight (a crash logs it). */
  private head: RequestHead | undefined;
  /** The body of the request in flight, once asked for and until it has ended. */
  private body: BodyFeed | undefined;
  /** Whether the current request's body has been asked for (read, streamed or discarded). */
  private bodyStarted = false;
  private bodyPaused = false;
  /** Close instead of waiting for another request (graceful shutdown). */
  private closeWhenDone = false;
  /** The TLS session (`listen … ssl`), set once the handshake is done. */
  tls: TlsFacts | undefined;
  /** Plain HTTP on a `listen … ssl` address: each request is answered nginx's 497 (sent as 400). */
  plainOnSslPort = false;
  /** The PROXY protocol header's addresses (`listen … proxy_protocol`); undefined without them. */
  proxyProtocol: ProxyProtocolFacts | undefined;
  /** An HTTP/2 stream's request ($http2): "h2" over TLS, "h2c" in clear text; undefined for HTTP/1.x. */
  http2: "h2" | "h2c" | undefined;

  constructor(
    /** The client's socket; after the hand-over to a native tunnel, the shell that stands for it (tunnelShell()). */
    public socket: Socket,
    readonly srv: SrvConf,
    private readonly events: ConnectionEvents,
    private keepaliveTimeoutMs: number,
    id?: number,
    /** When the socket was accepted (nginx's c->start_time): keepalive_time's origin, the TLS handshake included. */
    readonly startMs = Date.now(),
  ) {
    this.id = id ?? takeConnectionId();
    // Read now: logs written when a tunnel closes need it, and a closed socket no longer has it.
    this.remoteAddress = stripMappedV4(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
    attachListeners(socket, this);
    this.reader = new HeadReader(srv);
    this.deadline.set(srv.clientHeaderTimeoutMs);
  }

  /** The listening socket's own address, when it listens on one: no getsockname() needed. */
  knowLocalAddress(address: string, port: number): void {
    this.local = { address, port };
  }

  get localAddress(): string {
    this.local ??= { address: stripMappedV4(this.socket.localAddress ?? ""), port: this.socket.localPort ?? 0 };
    return this.local.address;
  }

  get localPort(): number {
    void this.localAddress;
    return this.local!.port;
  }

  /** For stub_status: reading a request head, serving a request (or a tunnel), or idle. */
  get activity(): "reading" | "writing" | "waiting" {
    if (this.state === "request" || this.state === "detached") return "writing";
    if (this.state === "head" && this.reader.received > 0) return "reading";
    return "waiting";
  }

  bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  write(data: string | Buffer): boolean {
    if (this.state === "closed" || this.socket.destroyed) return false;
    return typeof data === "string" ? this.socket.write(data, "latin1") : this.socket.write(data);
  }

  /** Bytes read past the request head and not yet handed on (nginx's preread body, at first). */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  /** Start delivering the request body to `sink`, bytes already read first. */
  readBody(framing: BodyFraming, sink: BodySink): void {
    this.bodyStarted = true;
    if (framing.kind === "none") {
      sink.end();
      return;
    }
    this.body = new BodyFeed(framing, sink);
    const buffered = this.pending;
    this.pending = undefined;
    if (buffered) this.feedBody(buffered);
    // Reading may have stopped while the bytes waited for a sink (hold()). The request may have ended
    // meanwhile (a bad chunk answered 400), taking its body with it.
    if (this.body?.open === true && !this.bodyPaused) this.socket.resume();
  }

  /**
   * ngx_http_discard_request_body(): the body of a request answered without it
   * (a file, an error page, `return`) is read and dropped, so that the next
   * request on the connection is read as a request. Nothing if the body has
   * already been asked for.
   */
  discardBody(framing: BodyFraming): void {
    if (!this.bodyStarted) this.readBody(framing, DISCARD);
  }

  pauseBody(): void {
    this.bodyPaused = true;
    this.socket.pause();
  }

  resumeBody(): void {
    this.bodyPaused = false;
    if (this.state === "request") this.socket.resume();
  }

  /** Time the client may stay silent while we wait on an upstream or send to it. */
  setIdleTimeout(ms: number): void {
    this.socket.setTimeout(ms);
  }

  /**
   * The response is complete. Keep the connection for the next request, or
   * close it once the response is flushed.
   */
  finishRequest(keepAlive: boolean): void {
    if (this.state !== "request") return;
    this.onAbortHandler = undefined;
    this.head = undefined;
    // An unread body cannot be told apart from the next request: close.
    const bodyUnread = this.body?.open === true;
    this.body = undefined;
    if (!keepAlive || bodyUnread || this.closeWhenDone) {
      this.close();
      return;
    }
    this.state = "head";
    this.socket.setTimeout(0);
    this.socket.resume();
    // A pipelined request already read waits in `pending`; bytes arriving meanwhile are appended
    // to it, so requests keep their order. Deferred, so a run of pipelined requests answered
    // at once does not grow the stack. nginx reads it at once, with client_header_timeout
    // should it be incomplete; an idle connection has keepalive_timeout.
    this.pipelined = this.pending !== undefined && this.pending.length > 0;
    if (this.pending && this.pending.length > 0) {
      this.deadline.set(this.srv.clientHeaderTimeoutMs);
      setImmediate(readPipelined, this);
    } else {
      this.pending = undefined;
      this.idleWait = true;
      this.deadline.set(this.keepaliveTimeoutMs);
    }
  }

  /** @internal deferred: the pipelined bytes held while the last request was served */
  readPending(): void {
    if (this.state !== "head" || !this.pending) return;
    const pending = this.pending;
    this.pending = undefined;
    this.socket.resume(); // hold() may have paused reading while the bytes waited
    this.readHead(pending);
  }

  /** Hand the socket to a tunnel, with the bytes read past the request. */
  detach(): { socket: Socket; leftover: Buffer | undefined } {
    this.state = "detached";
    // The tunnel's log line is written after the socket closes, when its address can no longer be read.
    void this.localAddress;
    detachListeners(this.socket);
    this.socket.setTimeout(0);
    this.deadline.clear();
    const leftover = this.pending;
    this.pending = undefined;
    return { socket: this.socket, leftover };
  }

  /**
   * A native tunnel holds the descriptor now and the socket is gone: `shell` answers for it — the byte counts
   * ($bytes_sent), its 'close' (this connection's end for the server), destroy() (which ends the tunnel).
   */
  tunnelShell(shell: Socket): void {
    this.socket = shell;
  }

  /** Waiting for a request with nothing of it read: nginx may close it to make room (worker_connections). */
  get reusable(): boolean {
    return this.state === "head" && this.reader.received === 0 && !this.pending;
  }

  /**
   * Graceful shutdown: close now if idle between requests (keep-alive), else after the current
   * response. As nginx, a new connection still waiting for its first request is not idle: it is
   * served once, so that a connection an old worker accepted just before it quit is not lost.
   */
  closeWhenIdle(): void {
    this.closeWhenDone = true;
    if (this.state === "head" && this.reader.received === 0 && !this.pending && this.requests > 0) this.close();
  }

  /** Close after everything written so far is sent. */
  close(): void {
    if (this.state === "closed") return;
    if (this.resetting) {
      this.destroy();
      return;
    }
    this.state = "closed";
    this.deadline.clear();
    this.socket.end();
    this.socket.resume(); // drain and discard what the client still sends, so end() can finish
  }

  destroy(): void {
    this.state = "closed";
    this.deadline.clear();
    if (this.resetting) resetSocket(this.socket);
    else this.socket.destroy();
  }

  /**
   * A handler threw: end this connection alone. The request's abort handler releases what it
   * holds (an upstream peer), the flow logs an alert (and the request, if not logged yet).
   */
  crash(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    const handler = this.onAbortHandler;
    this.onAbortHandler = undefined;
    const first = !this.crashed;
    const head = this.state === "request" ? this.head : undefined;
    this.crashed = true;
    this.destroy();
    if (!first) return;
    try {
      handler?.("error");
    } finally {
      this.events.onCrash(this, error, head);
    }
  }

  /**
   * Run `fn` as an entry point of this connection (an event of its request's upstream socket, a
   * timer of its request): a throw ends this connection only (crash()), not the process.
   */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.crash(err);
    }
  }

  /** @internal the deadline passed (client_header_timeout, keepalive_timeout) */
  onDeadline(): void {
    // The socket's own "timeout" event, so that every listener of it (a TLS handshake's too) sees it.
    this.guard(() => this.state === "head" && this.socket.emit("timeout"));
  }

  setKeepaliveTimeout(ms: number): void {
    this.keepaliveTimeoutMs = ms;
  }

  /** @internal socket listener */
  onData(chunk: Buffer): void {
    switch (this.state) {
      case "head":
        if (this.pending) {
          // Pipelined bytes wait to be read (readPending): these come after them.
          this.hold(chunk);
          return;
        }
        if (this.idleWait) {
          // ngx_http_keepalive_handler(): the first byte ends keepalive_timeout; a head it does not
          // complete has client_header_timeout from now (ngx_http_read_request_header()).
          this.idleWait = false;
          this.deadline.clear();
          if (this.readHead(chunk)) this.deadline.set(this.srv.clientHeaderTimeoutMs);
          return;
        }
        this.readHead(chunk);
        return;
      case "request":
        if (this.body?.open) this.feedBody(chunk);
        else this.hold(chunk);
        return;
      default:
        return; // closed: discard
    }
  }

  /** Bytes of a head: parsed from where the last read stopped. True while the head is incomplete. */
  private readHead(chunk: Buffer): boolean {
    const result = this.reader.feed(chunk);
    if (result.kind === "incomplete") return true;
    this.beginRequest(result);
    return false;
  }

  /** A whole head, or why it was refused: the request starts. An HTTP/2 stream's comes from its HEADERS. */
  beginRequest(result: Exclude<HeadParse, { kind: "incomplete" }>): void {
    this.deadline.clear();
    this.idleWait = false;
    this.state = "request";
    this.requests++;
    requestCounter.total++;
    if (result.kind === "error") {
      this.reader.reset();
      this.events.onBadHead(this, result.status, result.reason, result.requestLine, result.host);
      return;
    }
    this.pending = this.reader.takeRest();
    this.reader.reset();
    this.bodyBytesRead = 0;
    this.bodyStarted = false;
    this.head = result.head;
    this.events.onHead(this, result.head);
  }

  private feedBody(chunk: Buffer): void {
    const body = this.body!;
    const fed = body.feed(chunk);
    this.bodyBytesRead += fed.used;
    if (fed.rest && fed.rest.length > 0) this.hold(fed.rest);
    if (!fed.more && body.open) this.pauseBody();
  }

  /** Bytes past the current request: the next request's, or a tunnel's first. */
  private hold(chunk: Buffer): void {
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.pending.length > PENDING_LIMIT) this.socket.pause();
  }

  /** @internal socket listener */
  onEnd(): void {
    if (this.state === "request") {
      this.body?.abandon("client prematurely closed connection");
      this.abortRequest("closed");
    }
    this.destroy();
  }

  /** @internal socket listener */
  onSocketError(): void {
    if (this.state === "request") this.abortRequest("error");
    this.state = "closed";
    this.deadline.clear();
  }

  /** @internal socket listener */
  onClose(): void {
    if (this.state === "request") this.abortRequest("closed");
    this.state = "closed";
    this.deadline.clear();
  }

  private abortRequest(reason: AbortReason): void {
    const handler = this.onAbortHandler;
    this.onAbortHandler = undefined;
    if (handler) handler(reason);
    else this.events.onAbort(this, reason);
  }

  /** @internal socket listener */
  onTimeout(): void {
    if (this.state === "head") {
      // Empty lines before a request line are skipped, as nginx skips them.
      const partial = this.reader.partial().replace(/^(\r\n)+/, "");
      if (partial.trim() !== "") {
        // A request begun: nginx frees it, and reset_timedout_connection applies (not to an idle connection).
        this.events.onHeadTimeout(this, partial);
        this.resetting = this.events.resetsOnTimeout(this);
      }
      this.destroy();
      return;
    }
    if (this.state === "request") {
      // ngx_http_free_request() with c->timedout: SO_LINGER 0 when the request's location says so.
      this.resetting = this.events.resetsOnTimeout(this);
      this.abortRequest("timeout");
      this.destroy();
    }
  }
}

function readPipelined(connection: ClientConnection): void {
  connection.guard(() => connection.readPending());
}
