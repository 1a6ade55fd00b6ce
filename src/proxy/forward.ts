/**
 * Proxying one request: pick a peer, connect, send the head and stream the
 * body, read the response head, then either relay the response (with the
 * framing the client needs) or, on a 101 to an Upgrade request, hand both
 * sockets to the tunnel. A failed connect moves on to the next peer, as
 * nginx's default `proxy_next_upstream error timeout`.
 */

import { connect, type Socket } from "node:net";
import type { LocationConf, ProxyPass } from "../config/model.js";
import { systemErrorText } from "../config/errors.js";
import type { ClientConnection } from "../http/connection.js";
import type { HttpRequest } from "../http/request.js";
import type { ErrorLog } from "../log/error-log.js";
import type { Peer, UpstreamGroup } from "../upstream/group.js";
import type { UpstreamTry } from "../vars/source.js";
import { LAST_CHUNK, encodeChunk } from "./chunked.js";
import { readResponseBody, responseFraming, writeParts, type BodyOutcome } from "./response-body.js";
import { buildClientHead } from "./response-headers.js";
import { adjustResponseHead } from "./response-rewrite.js";
import { parseResponseHead, type ResponseHead } from "./response-head.js";
import { startTunnel } from "./tunnel.js";
import { buildUpstreamHead, upstreamUri, type UpstreamBody } from "./upstream-request.js";

/** nginx's default proxy_buffer_size (one memory page): a longer response head is refused. */
const RESPONSE_HEAD_LIMIT = 4096;

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

class ProxySession {
  private readonly tried = new Set<Peer>();
  private upstream: Socket | undefined;
  private peer: Peer | undefined;
  private current: UpstreamTry | undefined;
  private responseStarted = false;
  private done = false;
  private bodySent = false;
  private tunnelling = false;

  constructor(
    private readonly r: HttpRequest,
    private readonly connection: ClientConnection,
    private readonly location: LocationConf,
    private readonly pass: ProxyPass,
    private readonly group: UpstreamGroup,
    private readonly services: ProxyServices,
  ) {}

  start(): void {
    this.connection.onAbortHandler = () => this.clientAborted();
    this.r.answerExpect((text) => this.connection.write(text));
    this.connectNext();
  }

  private get upstreamUrl(): string {
    return `http://${this.current?.addr ?? this.pass.upstream}${upstreamUri(this.r, this.pass, this.location)}`;
  }

  private connectNext(): void {
    const peer = this.group.pick(this.tried, Date.now());
    if (!peer) {
      if (this.tried.size === 0) {
        this.logUpstream("error", "no live upstreams while connecting to upstream");
      }
      this.fail(this.lastFailureStatus);
      return;
    }
    this.tried.add(peer);
    this.peer = peer;
    peer.active++;
    const attempt: UpstreamTry = {
      addr: peer.address.text,
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
    const tryStart = Date.now();
    const socket =
      peer.address.kind === "unix"
        ? connect({ path: peer.address.path })
        : connect({ host: peer.address.host, port: peer.address.port });
    this.upstream = socket;
    socket.setNoDelay(true);
    socket.setTimeout(this.location.loc.proxyConnectTimeoutMs);
    let connected = false;
    socket.once("connect", () => {
      connected = true;
      attempt.connectMs = Date.now() - tryStart;
      socket.setTimeout(this.location.loc.proxyReadTimeoutMs);
      this.sendRequest(socket, tryStart);
    });
    socket.on("error", (err) => this.upstreamError(socket, err, connected));
    // Until a response head arrives; the relay and the tunnel set their own.
    socket.on("timeout", () => this.upstreamTimeout(socket, connected));
  }

  private lastFailureStatus = 502;

  private sendRequest(socket: Socket, tryStart: number): void {
    const framing = this.r.facts.framing;
    const loc = this.location.loc;
    if (!loc.proxyPassRequestBody || framing.kind === "none") {
      this.sendHead(socket, { kind: "none" }, tryStart);
      return;
    }
    this.bodySent = true;
    this.connection.setIdleTimeout(loc.clientBodyTimeoutMs);
    // An HTTP/1.0 upstream cannot take a chunked body: read it whole first (bounded by
    // client_max_body_size, as nginx's buffering is) and send it with its length.
    const collect = framing.kind === "chunked" && loc.proxyHttpVersion === "1.0";
    const chunked = framing.kind === "chunked" && !collect;
    const collected: Buffer[] = [];
    const limit = loc.clientMaxBodySize;
    let received = 0;
    if (!collect) {
      this.sendHead(socket, chunked ? { kind: "chunked" } : framing, tryStart);
      socket.on("drain", () => this.connection.resumeBody());
    }
    this.connection.readBody(framing, {
      data: (chunk) => {
        received += chunk.length;
        if (framing.kind === "chunked" && limit > 0 && received > limit) {
          this.tooLarge(received);
          return false;
        }
        if (collect) return collected.push(chunk) > 0;
        return chunked ? writeParts(socket, encodeChunk(chunk)) : socket.write(chunk);
      },
      end: () => {
        this.connection.setIdleTimeout(0);
        if (this.done) return;
        if (collect) {
          this.sendHead(socket, { kind: "length", length: received }, tryStart);
          for (const chunk of collected) socket.write(chunk);
        } else if (chunked) socket.write(LAST_CHUNK);
      },
      fail: (status, reason) => {
        this.services.errorLogFor(this.r).log("info", reason, this.r.logContext());
        this.abortUpstream();
        if (!this.responseStarted) this.fail(status);
      },
    });
  }

  private sendHead(socket: Socket, body: UpstreamBody, tryStart: number): void {
    socket.write(buildUpstreamHead(this.r, this.pass, this.location, body), "latin1");
    this.readResponse(socket, tryStart);
  }

  /** A chunked body past client_max_body_size: nginx's 413, and the upstream request abandoned. */
  private tooLarge(received: number): void {
    if (this.done) return;
    this.services
      .errorLogFor(this.r)
      .log("error", `client intended to send too large chunked body: ${received} bytes`, this.r.logContext());
    this.abortUpstream();
    if (this.peer) this.peer.active--;
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
      if (parsed.kind === "error") {
        this.logUpstream("error", `${parsed.reason} while reading response header from upstream`);
        this.current!.status = 502;
        this.abortUpstream();
        this.fail(502);
        return;
      }
      const rest = parsed.head.length < buffered.length ? buffered.subarray(parsed.head.length) : undefined;
      this.current!.headerMs = Date.now() - tryStart;
      this.onResponseHead(socket, parsed.head, rest, tryStart);
    };
    socket.on("data", onData);
    socket.on("end", () => {
      if (!this.responseStarted && !this.done) {
        this.logUpstream("error", "upstream prematurely closed connection while reading response header from upstream");
        this.abortUpstream();
        this.fail(502);
      }
    });
  }

  private onResponseHead(socket: Socket, head: ResponseHead, rest: Buffer | undefined, tryStart: number): void {
    this.responseStarted = true;
    socket.removeAllListeners("timeout");
    socket.removeAllListeners("end");
    this.group.succeeded(this.peer!, Date.now());
    const attempt = this.current!;
    attempt.status = head.status;
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
      idleTimeoutMs: this.location.loc.proxyReadTimeoutMs,
      onClose: (how) => {
        attempt.responseMs = Date.now() - tryStart;
        attempt.bytesReceived = socket.bytesRead;
        attempt.bytesSent = socket.bytesWritten;
        this.peer!.active--;
        this.done = true;
        if (how === "timeout")
          this.logUpstream(
            "error",
            "upstream timed out (110: Connection timed out) while proxying upgraded connection",
          );
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
    const clientChunked =
      framing.kind !== "length" && framing.kind !== "none" && r.head.version >= 1001 && loc.chunkedTransferEncoding;
    const canKeepAlive =
      r.facts.keepAlive &&
      !r.keepAliveLost &&
      loc.keepaliveTimeoutMs > 0 &&
      r.connection.requests < loc.keepaliveRequests &&
      (framing.kind === "length" || framing.kind === "none" || clientChunked);
    const { head: text, headers } = buildClientHead(
      head,
      loc,
      {
        chunked: clientChunked,
        keepAlive: canKeepAlive,
        upgrade: false,
        keepAliveHeader: loc.keepaliveHeaderSeconds !== undefined ? `timeout=${loc.keepaliveHeaderSeconds}` : undefined,
      },
      changes,
    );
    r.status = head.status;
    r.responseHeaders = headers;
    r.headerBytes = text.length;
    const client = this.connection;
    client.setIdleTimeout(loc.sendTimeoutMs);
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
      this.peer!.active--;
      socket.destroy();
      if (outcome !== "complete") {
        this.logUpstream("error", `${BODY_FAILURE[outcome]} while reading upstream`);
        this.services.finalize(r, false);
        return;
      }
      if (clientChunked) client.write(LAST_CHUNK);
      this.services.finalize(r, canKeepAlive);
    });
  }

  private upstreamError(socket: Socket, err: Error, connected: boolean): void {
    if (this.done || socket !== this.upstream) return;
    const reason = systemErrorText(err);
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (!connected && OUT_OF_RESOURCES.has(code)) {
      // nginx's socket() failure: the proxy itself is short of descriptors or memory, a 500.
      this.logUpstream("alert", `socket() failed (${reason}) while connecting to upstream`);
      this.retryOrFail(socket, 500, false);
      return;
    }
    if (!connected) {
      this.logUpstream("error", `connect() failed (${reason}) while connecting to upstream`);
      this.retryOrFail(socket, 502);
      return;
    }
    if (!this.responseStarted) {
      this.logUpstream("error", `recv() failed (${reason}) while reading response header from upstream`);
      this.retryOrFail(socket, 502);
      return;
    }
    // In a tunnel the tunnel closes both sides; nginx names the phase so.
    const phase = this.tunnelling ? "proxying upgraded connection" : "reading upstream";
    this.logUpstream("error", `recv() failed (${reason}) while ${phase}`);
  }

  private upstreamTimeout(socket: Socket, connected: boolean): void {
    if (this.done || socket !== this.upstream) return;
    const phase = connected ? "reading response header from upstream" : "connecting to upstream";
    this.logUpstream("error", `upstream timed out (110: Connection timed out) while ${phase}`);
    this.retryOrFail(socket, 504);
  }

  /** proxy_next_upstream error timeout: try the next peer unless the body is already gone. */
  private retryOrFail(socket: Socket, status: number, peerFailed = true): void {
    socket.destroy();
    this.current!.status = 0;
    this.peer!.active--;
    if (peerFailed) this.group.failed(this.peer!, Date.now());
    else {
      this.fail(status);
      return;
    }
    this.current!.responseMs = -1;
    this.lastFailureStatus = status;
    if (this.bodySent || this.responseStarted || this.tried.size >= this.group.size) {
      this.fail(status);
      return;
    }
    this.connectNext();
  }

  private fail(status: number): void {
    if (this.done) return;
    this.done = true;
    if (this.current) this.r.upstreamForLog = this.upstreamUrl;
    this.services.respondError(this.r, status);
  }

  private abortUpstream(): void {
    this.upstream?.destroy();
  }

  private clientAborted(): void {
    if (this.done) return;
    this.done = true;
    if (!this.responseStarted) {
      this.logUpstream("info", "client prematurely closed connection while waiting for upstream");
      this.r.status = 499;
    }
    if (this.peer) this.peer.active--;
    this.abortUpstream();
    this.services.finalize(this.r, false);
  }

  private logUpstream(level: "alert" | "error" | "info", message: string): void {
    this.services.errorLogFor(this.r).log(level, message, this.r.logContext(undefined, this.upstreamUrl));
  }
}

/** Errors that say this process, not the peer, is out of something. */
const OUT_OF_RESOURCES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/** nginx's words for a response body that did not end as framed. */
const BODY_FAILURE: Record<Exclude<BodyOutcome, "complete">, string> = {
  premature: "upstream prematurely closed connection",
  invalid: "upstream sent invalid chunked response",
  timeout: "upstream timed out (110: Connection timed out)",
};
