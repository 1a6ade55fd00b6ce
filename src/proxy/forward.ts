/**
 * Proxying one request: pick a peer, connect, send the head and stream the
 * body, read the response head, then either relay the response (with the
 * framing the client needs) or, on a 101 to an Upgrade request, hand both
 * sockets to the tunnel. A failed try moves on to the next peer as
 * proxy_next_upstream allows (next-upstream.ts); a connection whose response
 * was read whole goes back to the group's keepalive cache.
 */

import { connect, type Socket } from "node:net";
import type { LocationConf, ProxyPass } from "../config/model.js";
import { systemErrorText } from "../config/errors.js";
import type { AbortReason, ClientConnection } from "../http/connection.js";
import type { HttpRequest } from "../http/request.js";
import type { BodyFraming } from "../http/request-headers.js";
import type { ErrorLog } from "../log/error-log.js";
import type { Selection } from "../upstream/balancer.js";
import type { Peer, PeerOutcome, UpstreamGroup } from "../upstream/group.js";
import type { UpstreamConnection } from "../upstream/keepalive-pool.js";
import type { UpstreamTry } from "../vars/source.js";
import { LAST_CHUNK, encodeChunk } from "./chunked.js";
import { readResponseBody, responseFraming, writeParts, type BodyOutcome } from "./response-body.js";
import { buildClientHead } from "./response-headers.js";
import { adjustResponseHead } from "./response-rewrite.js";
import { parseResponseHead, type ResponseHead } from "./response-head.js";
import { evaluatePassTarget, resolvedGroup } from "./pass-target.js";
import { dnsClient, ResolveError } from "../upstream/dns.js";
import { RequestBodyBuffer, type SpoolError } from "./request-body-buffer.js";
import { startTunnel, timeoutLine, tunnelMainFor, tunnelOptionsFor } from "./tunnel.js";
import { buildUpstreamHead, upstreamUri, type UpstreamBody } from "./upstream-request.js";
import { countsAsFailure, failureStatus, mayRetry, statusFailure, type TryFailure } from "./next-upstream.js";

/** nginx's default proxy_buffer_size (one memory page): a longer response head is refused. */
const RESPONSE_HEAD_LIMIT = 4096;

/** A request body up to this size is kept so that a retry can send it again. */
const REPLAY_LIMIT = 1024 * 1024;

export interface ProxyServices {
  /** The error log in force for a request (its location's error_log, else the main one). */
  errorLogFor(r: HttpRequest): ErrorLog;
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** Send nginx's error page for `status` and end the request. */
  respondError(r: HttpRequest, status: number): void;
  /** The response is complete: log it, keep or close the connection. */
  finalize(r: HttpRequest, keepAlive: boolean): void;
  /** An upgraded connection ended: log it. */
  finalizeTunnel(r: HttpRequest): void;
  /** Whether any variable reads response headers ($sent_http_…, $upstream_http_…) after the response. */
  readonly keepsResponseHeaders: boolean;
  /** The request headers some variable reads (variable-style names); a tunnel keeps only these. */
  readonly requestHeadersRead: ReadonlySet<string>;
}

export function proxyRequest(
  r: HttpRequest,
  connection: ClientConnection,
  location: LocationConf,
  pass: ProxyPass,
  services: ProxyServices,
): void {
  if (pass.dynamic) {
    const target = evaluatePassTarget(r, pass, services.upstreams, location.loc.resolver !== undefined);
    if (target.kind === "error") {
      services.errorLogFor(r).log("error", target.message, r.logContext());
      services.respondError(r, target.status);
      return;
    }
    if (target.kind === "resolve") {
      resolveThenProxy(r, connection, location, target, services);
      return;
    }
    r.proxyHost = target.pass.proxyHost;
    new ProxySession(r, connection, location, target.pass, target.group, services).start();
    return;
  }
  const group = services.upstreams.get(pass.upstream) ?? services.upstreams.get(pass.upstream.replace(/:80$/, ""));
  if (!group) {
    // finalize.ts resolves every proxy_pass to a group; reaching here is a bug, not a client error.
    services.errorLogFor(r).log("alert", `no upstream group "${pass.upstream}"`, r.logContext());
    services.respondError(r, 500);
    return;
  }
  r.proxyHost = pass.proxyHost;
  new ProxySession(r, connection, location, pass, group, services).start();
}

/** proxy_pass with a host name in a variable: ask the resolver (answers cached by TTL), then proxy to every address. */
function resolveThenProxy(
  r: HttpRequest,
  connection: ClientConnection,
  location: LocationConf,
  target: { readonly pass: ProxyPass; readonly host: string; readonly port: number },
  services: ProxyServices,
): void {
  let aborted = false;
  connection.onAbortHandler = () => {
    aborted = true;
    if (r.status === 0) r.status = 499;
    services.finalize(r, false);
  };
  dnsClient(location.loc.resolver!, location.loc.resolverTimeoutMs)
    .resolve(target.host)
    .then(
      (answer) => {
        if (aborted) return;
        connection.onAbortHandler = undefined;
        r.proxyHost = target.pass.proxyHost;
        const group = resolvedGroup(target.pass, answer.addresses, target.port);
        new ProxySession(r, connection, location, target.pass, group, services).start();
      },
      (err: unknown) => {
        if (aborted) return;
        connection.onAbortHandler = undefined;
        const failure = err instanceof ResolveError ? err : new ResolveError(110, "Operation timed out");
        const message = `${target.host} could not be resolved (${failure.code}: ${failure.text})`;
        services.errorLogFor(r).log("error", message, r.logContext());
        services.respondError(r, 502);
      },
    )
    // A throw in the handlers is a bug, reported as the synchronous path reports one (uncaughtException).
    .catch((err: unknown) =>
      process.nextTick(() => {
        throw err;
      }),
    );
}

class ProxySession {
  private readonly selection: Selection;
  private triesLeft: number;
  private readonly startMs = Date.now();
  private upstream: Socket | undefined;
  private conn: UpstreamConnection | undefined;
  private reused = false;
  private peer: Peer | undefined;
  private current: UpstreamTry | undefined;
  private tryStart = 0;
  private unbind: Array<() => void> = [];
  private responseStarted = false;
  private done = false;
  private tunnelling = false;
  /** Some of the request went to the current upstream (nginx's request_sent). */
  private requestSent = false;
  /** The body's reading has begun (it is read once, whatever the number of tries). */
  private bodyStarted = false;
  private bodyComplete = false;
  private bodyReceived = 0;
  /** The body's bytes, kept while they fit in REPLAY_LIMIT; undefined once they did not. */
  private bodyKept: Buffer[] | undefined = [];
  /** The body read whole before connecting (proxy_request_buffering), memory or file. */
  private buffered: RequestBodyBuffer | undefined;
  /** The buffered body went whole to the current upstream. */
  private bodySent = false;
  /** The upstream request said `Connection: close`: the connection is not worth keeping. */
  private sentClose = true;

  constructor(
    private readonly r: HttpRequest,
    private readonly connection: ClientConnection,
    private readonly location: LocationConf,
    private readonly pass: ProxyPass,
    private readonly group: UpstreamGroup,
    private readonly services: ProxyServices,
  ) {
    this.selection = group.select(r);
    const limit = location.loc.proxyNextUpstreamTries;
    this.triesLeft = limit > 0 ? Math.min(limit, group.tries) : group.tries;
  }

  start(): void {
    this.connection.onAbortHandler = (reason) => this.clientAborted(reason);
    this.r.answerExpect((text) => this.connection.write(text));
    if (this.buffersBody()) {
      this.readWholeBody();
      return;
    }
    this.connectNext();
  }

  /**
   * proxy_request_buffering on, and always for a chunked body to an HTTP/1.0
   * upstream or a body not passed (ngx_http_proxy_handler's
   * request_body_no_buffering rule: nginx reads that body too, and drops it).
   */
  private buffersBody(): boolean {
    const framing = this.r.facts.framing;
    const loc = this.location.loc;
    if (framing.kind === "none") return false;
    if (!loc.proxyPassRequestBody) return true;
    return loc.proxyRequestBuffering || (framing.kind === "chunked" && loc.proxyHttpVersion === "1.0");
  }

  /**
   * ngx_http_read_client_request_body(): the whole body first, then the
   * upstream. In memory while it fits client_body_buffer_size (with the bytes
   * read along with the head, and a quarter more for a known length, as
   * nginx sizes its buffer), else in a temporary file.
   */
  private readWholeBody(): void {
    const r = this.r;
    const loc = this.location.loc;
    const framing = r.facts.framing;
    const size = loc.clientBodyBufferSize;
    const srv = this.connection.srv;
    const headerBuffer =
      r.head.length <= srv.clientHeaderBufferSize ? srv.clientHeaderBufferSize : srv.largeClientHeaderBuffers.size;
    const preread = Math.min(this.connection.bufferedBytes, Math.max(0, headerBuffer - r.head.length));
    // The file is made once the buffer is full and more is coming (ngx_http_request_body_save_filter).
    let memoryLimit = preread + size;
    if (framing.kind === "length" && framing.length - preread < size + (size >> 2)) memoryLimit = framing.length;
    const buffer = new RequestBodyBuffer(memoryLimit, loc.clientBodyTempPath, {
      spooled: (path) =>
        this.services
          .errorLogFor(r)
          .log("warn", `a client request body is buffered to a temporary file ${path}`, r.logContext()),
      resume: () => this.connection.resumeBody(),
    });
    this.buffered = buffer;
    this.bodyStarted = true;
    this.bodyKept = undefined;
    this.connection.setIdleTimeout(loc.clientBodyTimeoutMs);
    this.connection.readBody(framing, {
      data: (chunk) => this.countBody(chunk, framing, loc.clientMaxBodySize) && buffer.add(chunk),
      end: () => {
        this.connection.setIdleTimeout(0);
        buffer.finish((error) => {
          if (this.done) return;
          if (error) {
            this.spoolFailed(error);
            return;
          }
          this.bodyComplete = true;
          this.connectNext();
        });
      },
      fail: (status, reason) => this.bodyFailed(status, reason),
    });
  }

  /**
   * The body could not be read: a framing error gets its error page; a client
   * gone (c->error in nginx) gets nothing, and the request is logged with the status.
   */
  private bodyFailed(status: number, reason: string): void {
    this.services.errorLogFor(this.r).log("info", reason, this.r.logContext());
    this.abortUpstream();
    this.freePeer("ok");
    if (this.responseStarted || this.done) return;
    if (reason !== CLIENT_GONE) {
      this.fail(status);
      return;
    }
    this.done = true;
    this.dropBody();
    if (this.current) this.r.upstreamForLog = this.upstreamUrl;
    this.r.status = status;
    this.services.finalize(this.r, false);
  }

  /** A temporary file could not be made, written or read: nginx's crit line and a 500. */
  private spoolFailed(error: SpoolError): void {
    this.services
      .errorLogFor(this.r)
      .log("crit", `${error.call} "${error.path}" failed (${systemErrorText(error.err)})`, this.r.logContext());
    this.abortUpstream();
    this.freePeer("ok");
    this.fail(500);
  }

  /** The request is over, or its body will not be sent again: the buffered body goes. */
  private dropBody(): void {
    this.buffered?.dispose();
  }

  private get upstreamUrl(): string {
    // nginx separates a unix socket's path from the URI with a ":", as proxy_pass writes it.
    const separator = this.peer?.address.kind === "unix" ? ":" : "";
    const uri = upstreamUri(this.r, this.pass, this.location);
    return `http://${this.current?.addr ?? this.pass.upstream}${separator}${uri}`;
  }

  /** Listen on the current upstream socket; everything bound so is removed before the socket is cached. */
  private on(socket: Socket, event: string, listener: (...args: never[]) => void): void {
    socket.on(event, listener as (...args: unknown[]) => void);
    this.unbind.push(() => socket.off(event, listener as (...args: unknown[]) => void));
  }

  private release(): void {
    for (const off of this.unbind) off();
    this.unbind = [];
  }

  private connectNext(): void {
    const now = Date.now();
    const peer = this.selection.pick(now);
    const attempt: UpstreamTry = {
      addr: peer ? peer.address.text : this.group.name,
      status: 0,
      connectMs: -1,
      headerMs: -1,
      responseMs: -1,
      bytesReceived: 0,
      bytesSent: 0,
      responseHeaders: [],
    };
    this.current = attempt;
    this.r.upstreamTries.push(attempt);
    if (!peer) {
      // ngx_http_upstream_connect(): NGX_BUSY; the try is named after the group.
      this.peer = undefined;
      this.logUpstream("error", "no live upstreams while connecting to upstream");
      attempt.status = 502;
      attempt.responseMs = 0;
      this.fail(502);
      return;
    }
    this.peer = peer;
    this.requestSent = false;
    const tryStart = now;
    this.tryStart = now;
    const cached = this.group.keepalive?.take(peer.address.text);
    if (cached) {
      this.reused = true;
      this.conn = cached;
      this.upstream = cached.socket;
      const socket = cached.socket;
      attempt.connectMs = 0;
      socket.setTimeout(this.location.loc.proxyReadTimeoutMs);
      this.on(socket, "error", (err: Error) => this.upstreamError(socket, err, true));
      this.on(socket, "timeout", () => this.upstreamTimeout(socket, true));
      this.sendRequest(socket, tryStart);
      return;
    }
    this.reused = false;
    const socket =
      peer.address.kind === "unix"
        ? connect({ path: peer.address.path })
        : connect({ host: peer.address.host, port: peer.address.port });
    this.upstream = socket;
    this.conn = { socket, peer: peer.address.text, openedMs: now, requests: 0 };
    socket.setNoDelay(true);
    socket.setTimeout(this.location.loc.proxyConnectTimeoutMs);
    let connected = false;
    this.on(socket, "connect", () => {
      connected = true;
      attempt.connectMs = Date.now() - tryStart;
      socket.setTimeout(this.location.loc.proxyReadTimeoutMs);
      this.sendRequest(socket, tryStart);
    });
    this.on(socket, "error", (err: Error) => this.upstreamError(socket, err, connected));
    // Until a response head arrives; the relay and the tunnel set their own.
    this.on(socket, "timeout", () => this.upstreamTimeout(socket, connected));
  }

  private get bodyReplayable(): boolean {
    return !this.bodyStarted || (this.bodyComplete && (this.bodyKept !== undefined || this.buffered !== undefined));
  }

  private sendRequest(socket: Socket, tryStart: number): void {
    // The head and the body bytes already read go out in one write, as nginx's
    // writev: one segment to the upstream, and no reset from an upstream that
    // answers and closes after reading only the head's segment.
    socket.cork();
    process.nextTick(() => socket.uncork());
    const framing = this.r.facts.framing;
    const loc = this.location.loc;
    if (!loc.proxyPassRequestBody || framing.kind === "none") {
      this.bodySent = true;
      this.sendHead(socket, { kind: "none" }, tryStart);
      return;
    }
    if (this.buffered) {
      const buffered = this.buffered;
      this.bodySent = false;
      this.sendHead(socket, { kind: "length", length: buffered.length }, tryStart);
      buffered.writeTo(
        socket,
        () => !this.done && socket === this.upstream && !socket.destroyed,
        (error) => {
          if (error) this.spoolFailed(error);
          else this.bodySent = true;
          if (this.responseStarted) this.dropBody();
        },
      );
      return;
    }
    if (this.bodyStarted) {
      // A retry: the body was read whole and kept (else no retry is made).
      this.sendHead(socket, { kind: "length", length: this.bodyReceived }, tryStart);
      for (const chunk of this.bodyKept ?? []) socket.write(chunk);
      return;
    }
    this.bodyStarted = true;
    this.connection.setIdleTimeout(loc.clientBodyTimeoutMs);
    // Streamed (proxy_request_buffering off): a chunked body stays chunked (an HTTP/1.1 upstream;
    // for HTTP/1.0 the body is buffered, see buffersBody()).
    const chunked = framing.kind === "chunked";
    this.sendHead(socket, chunked ? { kind: "chunked" } : framing, tryStart);
    this.on(socket, "drain", () => this.connection.resumeBody());
    this.connection.readBody(framing, {
      data: (chunk) => {
        if (!this.countBody(chunk, framing, loc.clientMaxBodySize)) return false;
        if (this.bodyKept) {
          if (this.bodyReceived <= REPLAY_LIMIT) this.bodyKept.push(chunk);
          else this.bodyKept = undefined;
        }
        if (socket !== this.upstream || socket.destroyed) return true;
        return chunked ? writeParts(socket, encodeChunk(chunk)) : socket.write(chunk);
      },
      end: () => {
        this.connection.setIdleTimeout(0);
        this.bodyComplete = true;
        if (this.done || socket !== this.upstream) return;
        if (chunked) socket.write(LAST_CHUNK);
      },
      fail: (status, reason) => this.bodyFailed(status, reason),
    });
  }

  private sendHead(socket: Socket, body: UpstreamBody, tryStart: number): void {
    const head = buildUpstreamHead(this.r, this.pass, this.location, body);
    this.sentClose = this.group.keepalive === undefined || /\r\nconnection:[ \t]*close/i.test(head);
    socket.write(head, "latin1");
    this.requestSent = true;
    if (this.conn) this.conn.requests++;
    this.readResponse(socket, tryStart);
  }

  /**
   * Counts a body chunk; false once a chunked body passes client_max_body_size (`limit`, 0: none),
   * which has then been answered. A body with a length was checked against the limit before.
   */
  private countBody(chunk: Buffer, framing: BodyFraming, limit: number): boolean {
    this.bodyReceived += chunk.length;
    if (framing.kind !== "chunked" || limit === 0 || this.bodyReceived <= limit) return true;
    this.tooLarge(this.bodyReceived);
    return false;
  }

  /** A chunked body past client_max_body_size: nginx's 413, and the upstream request abandoned. */
  private tooLarge(received: number): void {
    if (this.done) return;
    this.services
      .errorLogFor(this.r)
      .log("error", `client intended to send too large chunked body: ${received} bytes`, this.r.logContext());
    this.abortUpstream();
    this.freePeer("ok");
    if (!this.responseStarted) {
      this.fail(413);
      return;
    }
    // A response is already on its way: there is no status left to send, only the connection to close.
    this.done = true;
    this.connection.destroy();
  }

  private readResponse(socket: Socket, tryStart: number): void {
    let buffered: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
      const parsed = parseResponseHead(buffered, RESPONSE_HEAD_LIMIT);
      if (parsed.kind === "incomplete") return;
      socket.off("data", onData);
      socket.off("end", onEnd);
      if (parsed.kind === "error") {
        this.logUpstream("error", `${parsed.reason} while reading response header from upstream`);
        this.next(socket, "invalid_header", "reading response header from upstream");
        return;
      }
      const rest = parsed.head.length < buffered.length ? buffered.subarray(parsed.head.length) : undefined;
      this.current!.headerMs = Date.now() - tryStart;
      this.onResponseHead(socket, parsed.head, rest, tryStart);
    };
    const onEnd = (): void => {
      if (this.responseStarted || this.done || socket !== this.upstream) return;
      this.logUpstream("error", "upstream prematurely closed connection while reading response header from upstream");
      this.next(socket, "error", "reading response header from upstream");
    };
    this.on(socket, "data", onData);
    this.on(socket, "end", onEnd);
  }

  private onResponseHead(socket: Socket, head: ResponseHead, rest: Buffer | undefined, tryStart: number): void {
    const attempt = this.current!;
    attempt.status = head.status;
    const failure = statusFailure(head.status);
    if (failure && this.retryAllowed(failure, this.triesLeft - 1)) {
      // ngx_http_upstream_test_next(): this status is listed and another peer may answer better.
      attempt.responseMs = Date.now() - tryStart;
      this.next(socket, failure, "reading response header from upstream");
      return;
    }
    this.responseStarted = true;
    if (this.bodySent) this.dropBody();
    socket.removeAllListeners("timeout");
    if (this.services.keepsResponseHeaders) attempt.responseHeaders = head.headers;
    if (head.status === 101 && this.r.facts.upgrade) {
      this.upgrade(socket, head, rest, tryStart);
      return;
    }
    if (this.intercepts(head.status)) {
      // proxy_intercept_errors: the upstream's response is dropped and the error_page answers instead.
      this.done = true;
      attempt.responseMs = Date.now() - tryStart;
      attempt.bytesReceived = socket.bytesRead;
      attempt.bytesSent = socket.bytesWritten;
      this.peer!.active--;
      socket.destroy();
      this.dropBody();
      this.r.upstreamForLog = this.upstreamUrl;
      this.services.respondError(this.r, head.status);
      return;
    }
    this.relay(socket, head, rest, tryStart);
  }

  private intercepts(status: number): boolean {
    const loc = this.r.loc;
    return loc.proxyInterceptErrors && status >= 300 && loc.errorPages.some((page) => page.status === status);
  }

  private upgrade(socket: Socket, upstreamHead: ResponseHead, rest: Buffer | undefined, tryStart: number): void {
    const r = this.r;
    const changes = adjustResponseHead(r, this.location, upstreamHead);
    const head = changes.head;
    const { head: text, headers } = buildClientHead(
      head,
      this.location.loc,
      { chunked: false, keepAlive: false, upgrade: true },
      changes,
    );
    r.status = 101;
    // A tunnel lives for hours: keep its header lists only if a log line will read them.
    if (this.services.keepsResponseHeaders) r.responseHeaders = headers;
    r.keepOnlyHeaders(this.services.requestHeadersRead);
    r.headerBytes = text.length;
    this.connection.write(text);
    // The tunnel keeps its own idle time for both sockets; this socket's timer is not needed.
    socket.setTimeout(0);
    const { socket: client, leftover } = this.connection.detach();
    this.tunnelling = true;
    client.setNoDelay(true);
    const attempt = this.current!;
    startTunnel({
      client,
      upstream: socket,
      fromClient: leftover,
      fromUpstream: rest,
      options: tunnelOptionsFor(this.location.loc, tunnelMainFor(r.server)),
      websocket: head.headers.some(([name, value]) => /^upgrade$/i.test(name) && /^\s*websocket\s*$/i.test(value)),
      onClose: (how) => {
        attempt.responseMs = Date.now() - tryStart;
        attempt.bytesReceived = socket.bytesRead;
        attempt.bytesSent = socket.bytesWritten;
        // The tunnel held its peer's connection count until now (least_conn, max_conns).
        this.freePeer("ok");
        this.done = true;
        this.dropBody();
        const timedOut = timeoutLine(how);
        if (timedOut) this.logUpstream(timedOut.level, timedOut.message);
        this.services.finalizeTunnel(r);
      },
    });
  }

  private relay(socket: Socket, upstreamHead: ResponseHead, rest: Buffer | undefined, tryStart: number): void {
    const r = this.r;
    const loc = this.location.loc;
    const changes = adjustResponseHead(r, this.location, upstreamHead);
    const head = changes.head;
    const framing = responseFraming(head, r.method);
    // nginx's chunked filter leaves responses under 200 alone; its header filter says "Connection: upgrade" to a 101.
    const clientChunked =
      head.status >= 200 &&
      framing.kind !== "length" &&
      framing.kind !== "none" &&
      r.head.version >= 1001 &&
      loc.chunkedTransferEncoding;
    const canKeepAlive =
      r.facts.keepAlive &&
      !r.keepAliveLost &&
      loc.keepaliveTimeoutMs > 0 &&
      r.connection.requests < loc.keepaliveRequests &&
      (framing.kind === "length" || framing.kind === "none" || clientChunked || unaskedInterim(head.status));
    const { head: text, headers } = buildClientHead(
      head,
      loc,
      {
        chunked: clientChunked,
        keepAlive: canKeepAlive,
        upgrade: head.status === 101,
        keepAliveHeader: loc.keepaliveHeaderSeconds !== undefined ? `timeout=${loc.keepaliveHeaderSeconds}` : undefined,
      },
      changes,
    );
    r.status = head.status;
    r.responseHeaders = headers;
    r.headerBytes = text.length;
    const client = this.connection;
    client.setIdleTimeout(loc.sendTimeoutMs);
    // The head and the body bytes read with it leave in one write (one writev), not one each.
    client.socket.cork();
    process.nextTick(() => client.socket.uncork());
    client.write(text);
    const attempt = this.current!;
    const resumeUpstream = (): void => void socket.resume();
    client.socket.on("drain", resumeUpstream);
    const send = (data: Buffer): void => {
      const ok = clientChunked ? writeParts(client.socket, encodeChunk(data)) : client.write(data);
      if (!ok) socket.pause();
    };
    readResponseBody(socket, framing, rest, send, (outcome) => {
      if (this.done) return;
      this.done = true;
      client.socket.off("drain", resumeUpstream);
      attempt.responseMs = Date.now() - tryStart;
      attempt.bytesReceived = socket.bytesRead;
      attempt.bytesSent = socket.bytesWritten;
      this.freePeer("ok");
      this.dropBody();
      if (outcome === "complete" && this.keepable(head, framing.kind)) this.cache(socket);
      else socket.destroy();
      if (outcome !== "complete") {
        this.logUpstream("error", `${BODY_FAILURE[outcome]} while reading upstream`);
        this.services.finalize(r, false);
        return;
      }
      if (clientChunked) client.write(LAST_CHUNK);
      this.services.finalize(r, canKeepAlive);
    });
  }

  /**
   * The connection may go back to the cache (nginx's u->keepalive): a whole
   * HTTP/1.1 response not framed by the close, no `Connection: close` either
   * way, and the request body sent whole.
   */
  private keepable(head: ResponseHead, framing: string): boolean {
    if (!this.group.keepalive || this.sentClose || framing === "close" || head.version < 1001) return false;
    if (this.bodyStarted && !this.bodyComplete) return false;
    if (this.buffered && !this.bodySent) return false;
    for (const [name, value] of head.headers) {
      if (name.toLowerCase() === "connection" && /(^|[\s,])close($|[\s,])/i.test(value)) return false;
    }
    return this.group.keepalive.accepts(this.conn!, Date.now());
  }

  private cache(socket: Socket): void {
    this.release();
    socket.setTimeout(0);
    this.group.keepalive!.put(this.conn!);
  }

  private upstreamError(socket: Socket, err: Error, connected: boolean): void {
    if (this.done || socket !== this.upstream) return;
    const reason = systemErrorText(err);
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (!connected && OUT_OF_RESOURCES.has(code)) {
      // nginx's socket() failure: the proxy itself is short of descriptors or memory, a 500.
      this.logUpstream("alert", `socket() failed (${reason}) while connecting to upstream`);
      socket.destroy();
      this.freePeer("ok");
      this.fail(500);
      return;
    }
    if (!connected && this.peer?.address.kind === "unix") {
      // A unix socket fails at once, in connect() itself: nginx names the socket, and is louder unless refused.
      const level = SOFT_CONNECT_ERRORS.has(code) ? "error" : "crit";
      this.logUpstream(level, `connect() to ${this.peer.address.text} failed (${reason}) while connecting to upstream`);
      this.next(socket, "error", "connecting to upstream");
      return;
    }
    if (!connected) {
      this.logUpstream("error", `connect() failed (${reason}) while connecting to upstream`);
      this.next(socket, "error", "connecting to upstream");
      return;
    }
    if (!this.responseStarted) {
      const doing = this.requestSent ? "reading response header from upstream" : "sending request to upstream";
      this.logUpstream("error", `${this.requestSent ? "recv" : "send"}() failed (${reason}) while ${doing}`);
      this.next(socket, "error", doing);
      return;
    }
    // In a tunnel the tunnel closes both sides; nginx names the phase so.
    const phase = this.tunnelling ? "proxying upgraded connection" : "reading upstream";
    this.logUpstream("error", `recv() failed (${reason}) while ${phase}`);
  }

  private upstreamTimeout(socket: Socket, connected: boolean): void {
    if (this.done || socket !== this.upstream || this.responseStarted) return;
    const phase = connected ? "reading response header from upstream" : "connecting to upstream";
    this.logUpstream("error", `upstream timed out (110: Connection timed out) while ${phase}`);
    this.next(socket, "timeout", phase);
  }

  private retryAllowed(failure: TryFailure, triesLeft: number): boolean {
    return mayRetry(failure, {
      conditions: this.location.loc.proxyNextUpstream,
      triesLeft,
      requestSent: this.requestSent,
      method: this.r.method,
      bodyReplayable: this.bodyReplayable,
      elapsedMs: Date.now() - this.startMs,
      timeoutMs: this.location.loc.proxyNextUpstreamTimeoutMs,
    });
  }

  /** ngx_http_upstream_next(): this try failed; free the peer, then try the next one or end with the status. */
  private next(socket: Socket, failure: TryFailure, doing: string): void {
    this.release();
    socket.destroy();
    const attempt = this.current!;
    // nginx's state for a failed try: the status it stands for, its time, what went over the wire.
    attempt.status = failureStatus(failure);
    if (attempt.responseMs < 0) attempt.responseMs = Date.now() - this.tryStart;
    attempt.bytesReceived = socket.bytesRead;
    attempt.bytesSent = socket.bytesWritten;
    const disabled = this.freePeer(countsAsFailure(failure) ? "failed" : "next");
    if (disabled) this.logUpstream("warn", `upstream server temporarily disabled while ${doing}`);
    this.triesLeft = this.group.lists.single ? 0 : this.triesLeft - 1;
    // A cached connection the upstream had closed does not use up a try.
    if (this.reused && failure === "error") this.triesLeft++;
    if (!this.retryAllowed(failure, this.triesLeft)) {
      this.fail(attempt.status);
      return;
    }
    this.connectNext();
  }

  /** The current peer's try is over: its connection count goes down, its health is updated. */
  private freePeer(outcome: PeerOutcome): boolean {
    const peer = this.peer;
    if (!peer) return false;
    this.peer = undefined;
    return this.group.free(peer, outcome, Date.now());
  }

  private fail(status: number): void {
    if (this.done) return;
    this.done = true;
    this.dropBody();
    if (this.current) this.r.upstreamForLog = this.upstreamUrl;
    this.services.respondError(this.r, status);
  }

  private abortUpstream(): void {
    this.upstream?.destroy();
  }

  private clientAborted(reason: AbortReason): void {
    if (this.done) return;
    this.done = true;
    if (!this.responseStarted && reason === "timeout") {
      // client_body_timeout (the only client timer before a response): nginx closes and logs 408, nothing more.
      this.r.status = 408;
    } else if (!this.responseStarted && this.buffered && !this.bodyComplete) {
      // Still reading the body, no upstream yet: nginx's recv() error (c->error), and a 400.
      const text = reason === "error" ? "recv() failed (104: Connection reset by peer)" : CLIENT_GONE;
      this.services.errorLogFor(this.r).log("info", text, this.r.logContext());
      this.r.status = 400;
    } else if (!this.responseStarted) {
      this.logUpstream("info", "client prematurely closed connection while waiting for upstream");
      this.r.status = 499;
    }
    this.freePeer("ok");
    this.abortUpstream();
    this.dropBody();
    this.services.finalize(this.r, false);
  }

  private logUpstream(level: "alert" | "crit" | "error" | "warn" | "info", message: string): void {
    this.services.errorLogFor(this.r).log(level, message, this.r.logContext(undefined, this.upstreamUrl));
  }
}

/** The connection's reason for a body cut short by the client (connection.ts onEnd). */
const CLIENT_GONE = "client prematurely closed connection";

/** connect() errors nginx logs at "error"; any other is "crit" (ngx_event_connect_peer). */
const SOFT_CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EAGAIN",
  "ECONNRESET",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
]);

/** Errors that say this process, not the peer, is out of something. */
const OUT_OF_RESOURCES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/** nginx's words for a response body that did not end as framed. */
const BODY_FAILURE: Record<Exclude<BodyOutcome, "complete">, string> = {
  premature: "upstream prematurely closed connection",
  invalid: "upstream sent invalid chunked response",
  timeout: "upstream timed out (110: Connection timed out)",
};

/**
 * A 1xx other than 101 stays "keep-alive" as nginx has it (its chunked filter leaves responses under 200
 * alone and keeps r->keepalive): after an unasked 100 Continue the final response, passed on as the body,
 * carries the framing the client reads.
 */
function unaskedInterim(status: number): boolean {
  return status < 200 && status !== 101;
}
