/**
 * The listening sockets of the http block, and the server blocks behind each
 * address. As nginx, when a port has a wildcard listen (`listen 8020`), only
 * the wildcard is bound and connections are told apart by their local
 * address; specific addresses are bound on their own otherwise.
 */

import type { Socket } from "node:net";
import type { HttpConf, ListenConf } from "../config/model.js";
import type { AccessLog } from "../log/access-log.js";
import type { ErrorLog, ErrorLogs } from "../log/error-log.js";
import { recordUpstreams } from "../upstream/peer-metrics.js";
import { UpstreamGroup } from "../upstream/group.js";
import { oneRequestConnection } from "./one-request-connection.js";
import { ClientConnection } from "./connection.js";
import { requestCounter, takeConnectionId } from "./connection-ids.js";
import type { ConnectionStats, ContentHandlers } from "./content-handler.js";
import { RequestFlow } from "./request-flow.js";
import { selectServer, type AddressServers } from "./select-server.js";
import { planBindings, type Binding } from "./bindings.js";
import { acceptOnSslAddress } from "./tls-accept.js";
import type { TLSSocket } from "node:tls";
import { Http2Sessions, type OpenedStream, type SessionFacts } from "./v2/sessions.js";
import { sniffPreface } from "./v2/preface.js";
import type { ProxyProtocolFacts, TlsFacts } from "../vars/source.js";
import { readProxyHeader } from "./proxy-protocol-accept.js";
import { PROXY_PROTOCOL_PEEK } from "./proxy-protocol.js";
import { stripMappedV4 } from "./client-address.js";
import { bindListen, type ListenHandle } from "./listen-socket.js";
import { ListeningSockets } from "./listeners.js";

export class HttpServer {
  private readonly bindings: Binding[];
  private readonly listeners: ListeningSockets;
  private readonly connections = new Set<ClientConnection>();
  /** Sockets of `listen … ssl` addresses whose first bytes have not come yet. */
  private readonly waiting = new Set<Socket>();
  private readonly bindingOf = new WeakMap<ClientConnection, Binding>();
  private readonly idleWaiters: Array<() => void> = [];
  readonly flow: RequestFlow;
  private readonly upstreams = new Map<string, UpstreamGroup>();
  /** HTTP/2 connections (src/http/v2/): each stream becomes a ClientConnection of its own. */
  private readonly http2 = new Http2Sessions((opened) => this.openStream(opened));
  private readonly bindingOfSession = new WeakMap<SessionFacts, Binding>();
  /** Sockets of `http2 on` addresses whose first bytes may still be the preface (h2c). */
  private readonly prefaceWaits = new Set<Socket>();

  private readonly errorLog: ErrorLog;
  private readonly errorLogs: ErrorLogs;
  /** worker_connections: connections this process may hold, listening sockets included (as nginx counts). */
  private connectionLimit = Infinity;
  private connectionLimitText = "";
  private reuseWarnedAt = 0;
  private accepted = 0;
  private handled = 0;

  constructor(
    readonly http: HttpConf,
    errorLogs: ErrorLogs,
    accessLog: AccessLog,
    content: ContentHandlers,
  ) {
    this.errorLog = errorLogs.main;
    this.errorLogs = errorLogs;
    for (const [name, conf] of http.upstreams) this.upstreams.set(name, new UpstreamGroup(conf));
    recordUpstreams(this.upstreams.values());
    this.bindings = planBindings(http);
    this.listeners = new ListeningSockets(
      this.bindings,
      (socket, binding) => this.accept(socket, binding),
      this.errorLog,
    );
    this.flow = new RequestFlow({
      http,
      errorLogFor: (loc) => errorLogs.forLocation(loc),
      accessLog,
      upstreams: this.upstreams,
      serversFor: (connection) => this.serversFor(connection),
      connectionStats: () => this.connectionStats(),
      content,
    });
  }

  /** `master_process off`: bind and listen on every socket of the configuration; fails with nginx's bind() message. */
  async listen(): Promise<void> {
    for (const binding of this.bindings) await this.acceptOn(await bindListen(binding.listen), binding.listen.text);
    // Only an accept error of EMFILE (which libuv would repeat in a loop) closes a socket here: it is bound again.
    const rebind = (listen: ListenConf): void => {
      bindListen(listen)
        .then((handle) => this.acceptOn(handle, listen.text))
        .catch((err: unknown) => this.errorLog.log("alert", err instanceof Error ? err.message : String(err)));
    };
    this.listeners.reacquireWith(rebind, false);
    this.startHealthChecks();
    await this.firstLookups();
  }

  /**
   * Listen and accept on `handle`, the bound socket of the listen `listenText`
   * (a worker's copy of its master's socket, or the single process's own).
   */
  acceptOn(handle: ListenHandle, listenText: string): Promise<void> {
    return this.listeners.acceptOn(handle, listenText);
  }

  /** A worker: pause accepting before descriptors run out; `reacquire` asks the master for a socket again. */
  pauseBeforeDescriptorsRunOut(reacquire: (listen: ListenConf) => void): void {
    this.listeners.reacquireWith(reacquire, true);
  }

  /** Active health checks (wsgate_health_check) run in every process that serves requests. */
  startHealthChecks(): void {
    for (const group of this.upstreams.values()) group.startHealthChecks(this.errorLog);
  }

  /** `server … resolve`: the first lookups have ended (at most 5 s), so that serving starts with peers. */
  async firstLookups(): Promise<void> {
    await Promise.all([...this.upstreams.values()].map((group) => group.firstLookups()));
  }

  /** Health checks stop and idle upstream connections close; requests in flight go on. */
  closeUpstreams(): void {
    for (const group of this.upstreams.values()) group.close();
  }

  /** The listening sockets this configuration needs, by nginx's address text ("0.0.0.0:8020"). */
  get listens(): readonly ListenConf[] {
    return this.bindings.map((binding) => binding.listen);
  }

  /** `worker_connections`: at the limit a new connection is accepted and closed at once, as nginx does. */
  limitConnections(workerConnections: number): void {
    this.connectionLimit = workerConnections - this.bindings.length;
    this.connectionLimitText = `${workerConnections} worker_connections are not enough`;
  }

  /** Stop accepting; open connections go on. */
  async stopListening(): Promise<void> {
    this.closeUpstreams();
    await this.listeners.close();
  }

  get openConnections(): number {
    return this.connections.size + this.waiting.size + this.http2.counts.connections;
  }

  /**
   * Graceful shutdown: idle keep-alive connections close now, busy ones after their response;
   * HTTP/2 connections are sent GOAWAY and close when their streams have.
   */
  closeIdleConnections(): void {
    for (const connection of this.connections) connection.closeWhenIdle();
    // Still waiting for a request or the rest of a preface: idle, closed at once as nginx closes them.
    for (const socket of this.prefaceWaits) socket.destroy();
    this.http2.closeAll();
  }

  /** Resolves when no connection (request or tunnel) is open. */
  async whenIdle(): Promise<void> {
    if (this.connections.size > 0 || this.waiting.size > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.http2.whenIdle();
  }

  destroyConnections(): void {
    for (const socket of this.waiting) socket.destroy();
    for (const connection of this.connections) connection.destroy();
    this.http2.destroyAll();
    for (const group of this.upstreams.values()) group.close();
  }

  /**
   * stub_status's figures, for this process: "handled" leaves out those refused at worker_connections.
   * An HTTP/2 connection is one active connection; its streams are requests being written, and it waits when it has none.
   */
  private connectionStats(): ConnectionStats {
    const counts = { reading: 0, writing: 0, waiting: 0 };
    for (const connection of this.connections) counts[connection.activity]++;
    const http2 = this.http2.counts;
    counts.writing += http2.streams;
    counts.waiting += http2.connections - http2.busyConnections;
    const active = this.connections.size + http2.connections;
    return { active, accepted: this.accepted, handled: this.handled, requests: requestCounter.total, ...counts };
  }

  private accept(socket: Socket, binding: Binding): void {
    this.accepted++;
    if (this.connections.size + this.waiting.size >= this.connectionLimit && !this.reuseConnection()) {
      this.errorLog.log("alert", this.connectionLimitText);
      socket.on("error", () => undefined);
      socket.destroy();
      return;
    }
    this.handled++;
    const defaultLoc = binding.servers.defaultServer.loc;
    socket.setNoDelay(defaultLoc.tcpNodelay);
    const servers = this.addressServers(binding, socket);
    if (servers.proxyProtocol) {
      this.readProxyHeader(socket, binding, servers);
      return;
    }
    if (servers.ssl) {
      this.acceptTls(socket, binding, servers, undefined, Date.now(), undefined);
      return;
    }
    this.acceptPlain(socket, binding, servers, undefined, Date.now(), undefined);
  }

  /** Plain HTTP/1.x; or, where the default server has `http2 on` (or `listen … http2`), HTTP/2 if the preface comes. */
  private acceptPlain(
    socket: Socket,
    binding: Binding,
    servers: AddressServers,
    id: number | undefined,
    acceptedMs: number,
    proxyProtocol: ProxyProtocolFacts | undefined,
  ): void {
    const server = servers.defaultServer;
    if (servers.http2 !== true && !server.srv.http2) {
      this.open(socket, binding, id, acceptedMs).proxyProtocol = proxyProtocol;
      return;
    }
    this.waiting.add(socket);
    this.prefaceWaits.add(socket);
    const decide = (verdict: "http2" | "http1"): void => {
      this.waiting.delete(socket);
      this.prefaceWaits.delete(socket);
      if (verdict === "http1") {
        this.open(socket, binding, id, acceptedMs).proxyProtocol = proxyProtocol;
        socket.resume();
        return;
      }
      const facts = {
        id: id ?? takeConnectionId(),
        startMs: acceptedMs,
        protocol: "h2c",
        server,
        proxyProtocol,
      } as const;
      this.startHttp2(socket, binding, facts);
    };
    sniffPreface(socket, server.srv.clientHeaderTimeoutMs, decide, () => {
      this.waiting.delete(socket);
      this.prefaceWaits.delete(socket);
      this.checkIdle();
    });
  }

  private startHttp2(socket: Socket, binding: Binding, facts: Omit<SessionFacts, "errorLog" | "listenText">): void {
    const session: SessionFacts = {
      ...facts,
      listenText: binding.listen.text,
      errorLog: this.errorLogs.forLocation(facts.server.loc),
    };
    this.bindingOfSession.set(session, binding);
    this.http2.accept(socket, session);
  }

  /** A TLS handshake chose "h2": the HTTP/1.x connection opened for the socket is let go. */
  private acceptTlsHttp2(connection: ClientConnection, socket: TLSSocket, tls: TlsFacts): void {
    const binding = this.bindingOf.get(connection)!;
    connection.detach();
    this.connections.delete(connection);
    const servers = this.addressServers(binding, socket);
    const server = tls.serverName ? selectServer(servers, tls.serverName.toLowerCase()).server : servers.defaultServer;
    const facts = { id: connection.id, startMs: connection.startMs, protocol: "h2", server, tls } as const;
    this.startHttp2(socket, binding, { ...facts, proxyProtocol: connection.proxyProtocol });
  }

  /** A stream's request: a connection of its own that serves it once, then closes. */
  private openStream(opened: OpenedStream): void {
    const { session } = opened;
    const connection = oneRequestConnection(
      opened.socket,
      session.server.srv,
      this.flow,
      session.server.loc.keepaliveTimeoutMs,
      {
        id: session.id,
        startMs: session.startMs,
        http2: session.protocol,
        tls: session.tls,
        proxyProtocol: session.proxyProtocol,
        requests: opened.requests,
      },
    );
    this.bindingOf.set(connection, this.bindingOfSession.get(session)!);
    connection.guard(() => connection.beginRequest(opened.request.parse));
  }

  /** `listen … proxy_protocol`: the PROXY header first, then HTTP or TLS as the address has it. */
  private readProxyHeader(socket: Socket, binding: Binding, servers: AddressServers): void {
    // The socket waits here until its header is read (src/http/proxy-protocol-accept.ts).
    this.waiting.add(socket);
    const acceptedMs = Date.now();
    const id = takeConnectionId();
    const srv = servers.defaultServer.srv;
    const wait = {
      connectionId: id,
      client: stripMappedV4(socket.remoteAddress ?? ""),
      listenText: binding.listen.text,
      // nginx reads the header into client_header_buffer_size, or peeks 4097 bytes before a handshake.
      limit: servers.ssl ? PROXY_PROTOCOL_PEEK : srv.clientHeaderBufferSize,
      peek: servers.ssl === true,
      timeoutMs: srv.clientHeaderTimeoutMs,
      errorLog: this.errorLogs.forLocation(servers.defaultServer.loc),
    };
    const header = (facts: ProxyProtocolFacts | undefined): void => {
      if (servers.ssl) {
        this.acceptTls(socket, binding, servers, id, acceptedMs, facts);
      } else {
        this.waiting.delete(socket);
        this.acceptPlain(socket, binding, servers, id, acceptedMs, facts);
      }
      socket.resume();
    };
    readProxyHeader(socket, wait, header, () => {
      this.waiting.delete(socket);
      this.checkIdle();
    });
  }

  private acceptTls(
    socket: Socket,
    binding: Binding,
    servers: AddressServers,
    id: number | undefined,
    acceptedMs: number,
    proxyProtocol: ProxyProtocolFacts | undefined,
  ): void {
    // Until its first bytes tell TLS from plain HTTP, the socket waits here (src/http/tls-accept.ts).
    this.waiting.add(socket);
    // c->start_time is the accept: keepalive_time counts the TLS handshake in.
    const open = (client: Socket, connectionId: number, plain: boolean): ClientConnection => {
      this.waiting.delete(socket);
      const connection = this.open(client, binding, connectionId, acceptedMs);
      connection.plainOnSslPort = plain;
      connection.proxyProtocol = proxyProtocol;
      return connection;
    };
    const gone = (): void => {
      this.waiting.delete(socket);
      this.checkIdle();
    };
    const http2 = (connection: ClientConnection, tlsSocket: TLSSocket, tls: TlsFacts): void =>
      this.acceptTlsHttp2(connection, tlsSocket, tls);
    acceptOnSslAddress(socket, servers, binding.listen.text, this.errorLog, open, gone, id, http2);
  }

  private open(socket: Socket, binding: Binding, id: number | undefined, acceptedMs = Date.now()): ClientConnection {
    const defaultLoc = binding.servers.defaultServer.loc;
    const connection = new ClientConnection(
      socket,
      binding.servers.defaultServer.srv,
      this.flow,
      defaultLoc.keepaliveTimeoutMs,
      id,
      acceptedMs,
    );
    this.bindingOf.set(connection, binding);
    if (binding.localAddress !== undefined) connection.knowLocalAddress(binding.localAddress, binding.listen.port);
    this.connections.add(connection);
    socket.once("close", () => {
      this.connections.delete(connection);
      this.checkIdle();
    });
    return connection;
  }

  private checkIdle(): void {
    if (this.connections.size === 0 && this.waiting.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /**
   * At the worker_connections limit, as nginx (ngx_drain_connections): close the oldest connection
   * waiting for a request to make room, with a warning at most once a second.
   */
  private reuseConnection(): boolean {
    for (const connection of this.connections) {
      if (!connection.reusable) continue;
      const second = Math.floor(Date.now() / 1000);
      if (second !== this.reuseWarnedAt) {
        this.reuseWarnedAt = second;
        this.errorLog.log("warn", `${this.connectionLimitText}, reusing connections`);
      }
      this.connections.delete(connection);
      connection.destroy();
      return true;
    }
    return false;
  }

  private serversFor(connection: ClientConnection): AddressServers {
    const binding = this.bindingOf.get(connection)!;
    if (binding.byLocalAddress.size === 0) return binding.servers;
    return binding.byLocalAddress.get(connection.localAddress) ?? binding.servers;
  }

  /** The servers of the address a connection arrived on (a specific address under a wildcard socket). */
  private addressServers(binding: Binding, socket: Socket): AddressServers {
    // Only a wildcard socket with specific addresses on its port needs getsockname() to choose (as nginx).
    if (binding.byLocalAddress.size === 0) return binding.servers;
    const localAddress = socket.localAddress ?? "";
    const address = localAddress.startsWith("::ffff:") ? localAddress.slice(7) : localAddress;
    return binding.byLocalAddress.get(address) ?? binding.servers;
  }
}
