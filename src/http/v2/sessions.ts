/**
 * The HTTP/2 connections of a server, as ngx_http_v2.c runs them: Node's
 * HTTP/2 session (nghttp2) over a socket accepted on an address with
 * `http2 on` — TLS that chose "h2" by ALPN, or clear text that began with the
 * connection preface (h2c, prior knowledge) — with nginx's settings
 * (http2_max_concurrent_streams, http2_body_preread_size as the streams'
 * initial window, large_client_header_buffers bounding a header list), and
 * each stream handed to the HTTP engine as a request of its own
 * (stream-socket.ts).
 *
 * nginx's limits: streams past http2_max_concurrent_streams are refused
 * (nghttp2 sends REFUSED_STREAM); more than twice that many new streams in
 * one read are refused ("client sent too many streams at once"); after
 * keepalive_requests streams, or keepalive_time, the connection says GOAWAY
 * and ends when its streams have; with no stream open, keepalive_timeout
 * closes it. Beyond nginx, a client that resets more streams in a second
 * than twice the concurrency it may use (CVE-2023-44487, "rapid reset") is
 * sent GOAWAY ENHANCE_YOUR_CALM and cut off. Graceful shutdown and reload
 * send GOAWAY: streams in flight complete, no new one starts.
 */

import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { ServerConf } from "../../config/model.js";
import type { ErrorLog, RequestLogContext } from "../../log/error-log.js";
import type { ProxyProtocolFacts, TlsFacts } from "../../vars/source.js";
import { freshWebSocketKey, StreamSocket, type StreamPeer } from "./stream-socket.js";
import { requestFromStream, type StreamNotice, type StreamRequest } from "./request-from-stream.js";
import { stripMappedV4 } from "../client-address.js";

/** The connection a session runs on, as its streams' requests see it. */
export interface SessionFacts {
  readonly id: number;
  readonly startMs: number;
  readonly protocol: "h2" | "h2c";
  /** The server whose settings the connection has: the SNI-selected one over TLS, else the address's default. */
  readonly server: ServerConf;
  readonly tls?: TlsFacts | undefined;
  readonly proxyProtocol?: ProxyProtocolFacts | undefined;
  readonly errorLog: ErrorLog;
  /** The address as nginx names it in a connection's log lines ("0.0.0.0:8443"). */
  readonly listenText: string;
}

/** A stream ready for the HTTP engine: its socket, its head, the session's facts and its number on it. */
export interface OpenedStream {
  readonly socket: StreamSocket;
  readonly request: StreamRequest;
  readonly session: SessionFacts;
  /** Streams this connection has carried, this one included ($connection_requests). */
  readonly requests: number;
}

/** A reset budget's window. */
const RESET_WINDOW_MS = 1000;

class Session {
  open = 0;
  requests = 0;
  /** Streams begun in this turn of the event loop (nginx counts per read: h2c->new_streams). */
  newStreams = 0;
  resets = 0;
  resetWindowStart = 0;
  going = false;

  constructor(
    readonly session: ServerHttp2Session,
    readonly facts: SessionFacts,
    readonly peer: StreamPeer,
  ) {}
}

export class Http2Sessions {
  private readonly sessions = new Set<Session>();
  private readonly idleWaiters: Array<() => void> = [];
  /** Graceful shutdown or reload has begun: a connection that starts HTTP/2 now is told GOAWAY at once. */
  private closing = false;

  constructor(private readonly openStream: (stream: OpenedStream) => void) {}

  /** Open connections, and the streams open on them (stub_status). */
  get counts(): { connections: number; busyConnections: number; streams: number } {
    let streams = 0;
    let busyConnections = 0;
    for (const session of this.sessions) {
      streams += session.open;
      if (session.open > 0) busyConnections++;
    }
    return { connections: this.sessions.size, busyConnections, streams };
  }

  /** Start HTTP/2 on `socket` (its preface may wait unread in it). */
  accept(socket: Socket, facts: SessionFacts): void {
    const srv = facts.server.srv;
    const { size, count } = srv.largeClientHeaderBuffers;
    // A server-side TLS socket made without a tls.Server keeps this set after its handshake; the
    // session would wait for a "secureConnect" that only client sockets emit.
    if (socket instanceof TLSSocket) (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
    const session = performServerHandshake(socket, {
      settings: {
        maxConcurrentStreams: srv.http2MaxConcurrentStreams,
        initialWindowSize: srv.http2BodyPrereadSize,
        enableConnectProtocol: srv.wsgateHttp2Websocket,
        // Past nginx's own limit (request-from-stream.ts ends the connection, as nginx), nghttp2 stops decoding: an HPACK bomb ends here.
        maxHeaderListSize: 2 * size * count,
      },
      maxHeaderListPairs: 2 * srv.maxHeaders + 16,
    });
    const state = new Session(session, facts, {
      remoteAddress: stripMappedV4(socket.remoteAddress ?? ""),
      remotePort: socket.remotePort ?? 0,
      localAddress: stripMappedV4(socket.localAddress ?? ""),
      localPort: socket.localPort ?? 0,
    });
    this.sessions.add(state);
    session.on("stream", (stream: ServerHttp2Stream, _headers: unknown, _flags: number, raw: string[]) =>
      this.onStream(state, stream, raw),
    );
    session.on("error", () => undefined);
    session.on("timeout", () => this.onIdle(state));
    session.once("close", () => this.closed(state));
    session.setTimeout(facts.server.loc.keepaliveTimeoutMs);
    // Begun after the shutdown (a handshake or a preface that ended late): as nginx, the streams of the
    // client's first flight are served, then the connection closes.
    if (this.closing) session.once("remoteSettings", () => setImmediate(() => this.goAway(state)));
    const keepaliveTime = facts.server.loc.keepaliveTimeMs;
    if (keepaliveTime > 0) {
      const timer = setTimeout(() => this.goAway(state), Math.max(0, facts.startMs + keepaliveTime - Date.now()));
      timer.unref();
      session.once("close", () => clearTimeout(timer));
    }
  }

  /** Graceful shutdown or reload: GOAWAY everywhere; streams in flight complete. */
  closeAll(): void {
    this.closing = true;
    for (const session of this.sessions) this.goAway(session);
  }

  destroyAll(): void {
    for (const session of this.sessions) session.session.destroy();
  }

  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private onStream(state: Session, stream: ServerHttp2Stream, raw: string[]): void {
    const srv = state.facts.server.srv;
    stream.on("error", () => undefined);
    if (state.newStreams++ === 0) setImmediate(() => (state.newStreams = 0));
    if (state.newStreams > 2 * srv.http2MaxConcurrentStreams) {
      this.log(state, "client sent too many streams at once");
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const options = { limits: srv, websocket: srv.wsgateHttp2Websocket, newKey: freshWebSocketKey };
    const request = requestFromStream(raw, options, !stream.endAfterHeaders);
    if (request.connectionError) {
      // A header past large_client_header_buffers fails the connection (ngx_http_v2_connection_error()).
      this.log(state, request.connectionError.reason);
      // With an error, Node's final GOAWAY carries the code (goaway() then destroy() ends with NO_ERROR).
      state.session.destroy(new Error(request.connectionError.reason), request.connectionError.code);
      return;
    }
    for (const notice of request.notices ?? []) this.logHeaders(state, notice);
    state.open++;
    state.requests++;
    stream.once("aborted", () => this.countReset(state));
    stream.once("close", () => this.streamClosed(state));
    const socket = new StreamSocket(stream, state.peer, {
      chunkBody: request.bodyToStreamEnd === true,
      extendedConnect: request.extendedConnect,
      head: request.head,
    });
    this.openStream({ socket, request, session: state.facts, requests: state.requests });
    if (state.requests >= state.facts.server.loc.keepaliveRequests) this.goAway(state);
  }

  private streamClosed(state: Session): void {
    state.open--;
    // With nothing open, keepalive_timeout counts from now.
    if (state.open === 0 && !state.session.destroyed) {
      if (state.going) state.session.close();
      else state.session.setTimeout(state.facts.server.loc.keepaliveTimeoutMs);
    }
  }

  private countReset(state: Session): void {
    const now = Date.now();
    if (now - state.resetWindowStart > RESET_WINDOW_MS) {
      state.resetWindowStart = now;
      state.resets = 0;
    }
    if (++state.resets <= 2 * state.facts.server.srv.http2MaxConcurrentStreams) return;
    this.log(state, "client reset too many streams");
    state.session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    state.session.destroy();
  }

  /** keepalive_timeout with no stream open: the connection closes (nginx: GOAWAY, then close). */
  private onIdle(state: Session): void {
    if (state.open > 0) return;
    state.session.close();
  }

  private goAway(state: Session): void {
    if (state.going || state.session.closed || state.session.destroyed) return;
    state.going = true;
    state.session.close();
  }

  private closed(state: Session): void {
    this.sessions.delete(state);
    if (this.sessions.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** A stream's line as nginx's request log writes it while the fields are read (no request line yet). */
  private logHeaders(state: Session, notice: StreamNotice): void {
    state.facts.errorLog.log("info", notice.reason, {
      connectionId: state.facts.id,
      client: state.peer.remoteAddress,
      server: state.facts.server.names[0] ?? "",
      ...(notice.host !== undefined ? { host: notice.host } : {}),
      action: "while reading client request headers",
    });
  }

  private log(state: Session, message: string): void {
    const context: RequestLogContext = {
      connectionId: state.facts.id,
      client: state.peer.remoteAddress,
      server: state.facts.listenText,
      action: "while processing HTTP/2 connection",
    };
    state.facts.errorLog.log("info", message, context);
  }
}
