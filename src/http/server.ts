/**
 * The listening sockets of the http block, and the server blocks behind each
 * address. As nginx, when a port has a wildcard listen (`listen 8020`), only
 * the wildcard is bound and connections are told apart by their local
 * address; specific addresses are bound on their own otherwise.
 */

import { createServer, type Server, type Socket } from "node:net";
import type { HttpConf, ListenConf, ServerConf } from "../config/model.js";
import { systemErrorText } from "../config/errors.js";
import type { AccessLog } from "../log/access-log.js";
import type { ErrorLog, ErrorLogs } from "../log/error-log.js";
import { UpstreamGroup } from "../upstream/group.js";
import { ClientConnection, requestCounter } from "./connection.js";
import type { ConnectionStats } from "../static/services.js";
import { RequestFlow } from "./request-flow.js";
import { indexServers, type AddressServers } from "./select-server.js";

interface Binding {
  readonly listen: ListenConf;
  readonly servers: AddressServers;
  /** Specific addresses on the same port, served through this wildcard socket. */
  readonly byLocalAddress: Map<string, AddressServers>;
}

export class ListenError extends Error {}

export class HttpServer {
  private readonly bindings: Binding[] = [];
  private readonly listeners: Server[] = [];
  private readonly connections = new Set<ClientConnection>();
  private readonly bindingOf = new WeakMap<ClientConnection, Binding>();
  private readonly idleWaiters: Array<() => void> = [];
  readonly flow: RequestFlow;
  private readonly upstreams = new Map<string, UpstreamGroup>();

  private readonly errorLog: ErrorLog;
  private accepted = 0;

  constructor(
    readonly http: HttpConf,
    errorLogs: ErrorLogs,
    accessLog: AccessLog,
  ) {
    this.errorLog = errorLogs.main;
    for (const [name, conf] of http.upstreams) this.upstreams.set(name, new UpstreamGroup(conf));
    this.planBindings();
    this.flow = new RequestFlow({
      http,
      errorLogFor: (loc) => errorLogs.forLocation(loc),
      accessLog,
      upstreams: this.upstreams,
      serversFor: (connection) => this.serversFor(connection),
      connectionStats: () => this.connectionStats(),
    });
  }

  /** Open every listening socket; fails with nginx's bind() message. */
  async listen(): Promise<void> {
    for (const binding of this.bindings) {
      const server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.accept(socket, binding));
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          reject(new ListenError(`bind() to ${binding.listen.text} failed (${systemErrorText(err)})`));
        };
        server.once("error", onError);
        const host = binding.listen.host === "" ? "0.0.0.0" : binding.listen.host;
        server.listen(
          { host, port: binding.listen.port, backlog: binding.listen.backlog, ipv6Only: binding.listen.ipv6only },
          () => {
            server.off("error", onError);
            // From now on an error is a failed accept(); the socket keeps listening.
            server.on("error", (err) => this.errorLog.log("alert", `accept() failed (${systemErrorText(err)})`));
            resolve();
          },
        );
      });
      this.listeners.push(server);
    }
  }

  /** Stop accepting; open connections go on. */
  async stopListening(): Promise<void> {
    await Promise.all(this.listeners.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.listeners.length = 0;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Graceful shutdown: idle keep-alive connections close now, busy ones after their response. */
  closeIdleConnections(): void {
    for (const connection of this.connections) connection.closeWhenIdle();
  }

  /** Resolves when no connection (request or tunnel) is open. */
  whenIdle(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  destroyConnections(): void {
    for (const connection of this.connections) connection.destroy();
  }

  /** stub_status's figures: every connection is handled (no limits refuse one). */
  private connectionStats(): ConnectionStats {
    const counts = { reading: 0, writing: 0, waiting: 0 };
    for (const connection of this.connections) counts[connection.activity]++;
    const active = this.connections.size;
    return { active, accepted: this.accepted, handled: this.accepted, requests: requestCounter.total, ...counts };
  }

  private accept(socket: Socket, binding: Binding): void {
    this.accepted++;
    const defaultLoc = binding.servers.defaultServer.loc;
    socket.setNoDelay(defaultLoc.tcpNodelay);
    const connection = new ClientConnection(
      socket,
      binding.servers.defaultServer.srv,
      this.flow,
      defaultLoc.keepaliveTimeoutMs,
    );
    this.bindingOf.set(connection, binding);
    this.connections.add(connection);
    socket.once("close", () => {
      this.connections.delete(connection);
      if (this.connections.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private serversFor(connection: ClientConnection): AddressServers {
    const binding = this.bindingOf.get(connection)!;
    if (binding.byLocalAddress.size === 0) return binding.servers;
    return binding.byLocalAddress.get(connection.localAddress) ?? binding.servers;
  }

  private planBindings(): void {
    const byText = new Map<string, { listen: ListenConf; servers: ServerConf[] }>();
    for (const server of this.http.servers) {
      for (const listen of server.listens) {
        const entry = byText.get(listen.text);
        if (entry) {
          if (!entry.servers.includes(server)) entry.servers.push(server);
          if (listen.defaultServer) entry.listen = listen;
        } else byText.set(listen.text, { listen, servers: [server] });
      }
    }
    const index = (entry: { listen: ListenConf; servers: ServerConf[] }): AddressServers => {
      const defaultServer =
        entry.servers.find((server) => server.listens.some((l) => l.text === entry.listen.text && l.defaultServer)) ??
        entry.servers[0]!;
      return indexServers(entry.servers, defaultServer);
    };
    const wildcards = new Map<string, Binding>();
    for (const entry of byText.values()) {
      if (entry.listen.host === "" || entry.listen.host === "::") {
        const binding: Binding = { listen: entry.listen, servers: index(entry), byLocalAddress: new Map() };
        wildcards.set(`${entry.listen.host === "" ? 4 : 6}:${entry.listen.port}`, binding);
        this.bindings.push(binding);
      }
    }
    for (const entry of byText.values()) {
      if (entry.listen.host === "" || entry.listen.host === "::") continue;
      const family = entry.listen.host.includes(":") ? 6 : 4;
      const wildcard = wildcards.get(`${family}:${entry.listen.port}`);
      if (wildcard) wildcard.byLocalAddress.set(entry.listen.host, index(entry));
      else this.bindings.push({ listen: entry.listen, servers: index(entry), byLocalAddress: new Map() });
    }
  }
}
