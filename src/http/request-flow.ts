/**
 * The life of a request, phase by phase (after nginx's phases and Pingora's
 * request filters): head read → checks → server → location → content
 * (proxy, or nginx's 404 where wsgate serves nothing) → log. Every error
 * response goes through respondError(), which sends nginx's page and status.
 */

import type { HttpConf, LocConf } from "../config/model.js";
import type { AccessLog } from "../log/access-log.js";
import type { ErrorLog } from "../log/error-log.js";
import { proxyRequest, type ProxyServices } from "../proxy/forward.js";
import type { UpstreamGroup } from "../upstream/group.js";
import type { ClientConnection, ConnectionEvents } from "./connection.js";
import { findLocation } from "./find-location.js";
import { HttpRequest } from "./request.js";
import type { RequestHead } from "./request-head.js";
import { requestFacts, type RequestFacts } from "./request-headers.js";
import { selectServer, type AddressServers } from "./select-server.js";
import { errorClosesConnection, errorResponse, wireStatus } from "./special-response.js";
import { parseTarget } from "./uri.js";
import { recordMatch } from "../vars/captures.js";
import { requestHeadersRead } from "../vars/http-variables.js";
import { formatHttpDate } from "../vars/time.js";
import { upstreamStatus } from "../upstream/status.js";
import { contentPhase } from "../static/content.js";
import type { ConnectionStats, ErrorExtras, StaticServices } from "../static/services.js";

export interface FlowServices {
  readonly http: HttpConf;
  readonly accessLog: AccessLog;
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** The error log of a location's error_log lines, or the main one. */
  errorLogFor(loc: LocConf): ErrorLog;
  /** The servers of the address the connection came in on. */
  serversFor(connection: ClientConnection): AddressServers;
  /** stub_status's counters. */
  connectionStats(): ConnectionStats;
}

const EMPTY_FACTS: RequestFacts = {
  host: "",
  framing: { kind: "none" },
  keepAlive: false,
  upgrade: false,
  expectContinue: false,
};

export class RequestFlow implements ConnectionEvents, ProxyServices, StaticServices {
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  readonly keepsResponseHeaders: boolean;
  readonly requestHeadersRead: ReadonlySet<string>;
  private readonly inFlight = new WeakMap<ClientConnection, HttpRequest>();

  constructor(private readonly services: FlowServices) {
    this.upstreams = services.upstreams;
    const variables = services.http.variables;
    this.keepsResponseHeaders = variables.usesPrefix("sent_http_") || variables.usesPrefix("upstream_http_");
    this.requestHeadersRead = requestHeadersRead(variables.usedNames());
  }

  errorLogFor(r: HttpRequest): ErrorLog {
    return this.services.errorLogFor(r.loc);
  }

  onHead(connection: ClientConnection, head: RequestHead): void {
    const facts = requestFacts(head);
    if ("status" in facts) {
      this.defaultLog(connection).log("info", facts.reason, this.contextFor(connection, head.requestLine));
      this.respondError(this.startRequest(connection, head, EMPTY_FACTS), facts.status);
      return;
    }
    const index = this.services.serversFor(connection);
    const { server, match: serverMatch } = selectServer(index, facts.ok.host);
    const target = parseTarget(head.target, server.srv.mergeSlashes);
    if (!target) {
      this.services
        .errorLogFor(server.loc)
        .log("info", "client sent invalid request", this.contextFor(connection, head.requestLine));
      this.respondError(this.startRequest(connection, head, facts.ok), 400);
      return;
    }
    const match = findLocation(server.locations, target.path);
    const r = new HttpRequest(
      connection,
      head,
      facts.ok,
      target.path,
      target.args,
      target.unparsed,
      server,
      match?.location,
      Date.now(),
    );
    if (serverMatch) recordMatch(r, serverMatch);
    if (match?.match) recordMatch(r, match.match);
    this.inFlight.set(connection, r);
    connection.setKeepaliveTimeout(r.loc.keepaliveTimeoutMs);
    if (head.method === "CONNECT" || head.method === "TRACE") {
      this.respondError(r, 405);
      return;
    }
    const framing = facts.ok.framing;
    const limit = r.loc.clientMaxBodySize;
    if (framing.kind === "length" && limit > 0 && framing.length > limit) {
      this.errorLogFor(r).log(
        "error",
        `client intended to send too large body: ${framing.length} bytes`,
        r.logContext(),
      );
      this.respondError(r, 413);
      return;
    }
    this.content(r);
  }

  /** The try-files and content phases (src/static/content.ts): proxy_pass, else stub_status, index, files. */
  private content(r: HttpRequest): void {
    contentPhase(r, this, () => {
      const location = r.location;
      if (location?.upstreamStatus) {
        this.respondJson(r, upstreamStatus(this.upstreams, Date.now()));
        return true;
      }
      if (!location?.proxyPass) return false;
      proxyRequest(r, r.connection as ClientConnection, location, location.proxyPass, this);
      return true;
    });
  }

  /** ngx_http_internal_redirect(): the location is searched again for the new URI. */
  internalRedirect(r: HttpRequest, uri: string, args: string): void {
    if (!this.countUriChange(r, `while internally redirecting to "${uri}"`)) return;
    r.uri = uri;
    r.args = args;
    r.addUriToAlias = false;
    r.variableCache.length = 0;
    const match = findLocation(r.server.locations, uri);
    r.location = match?.location;
    if (match?.match) recordMatch(r, match.match);
    this.content(r);
  }

  /** ngx_http_named_location(): `@name` of the server, the URI unchanged. */
  namedLocation(r: HttpRequest, name: string): void {
    const location = r.server.locations.find((l) => l.modifier === "@" && l.path === name);
    if (!location) {
      this.errorLogFor(r).log("error", `could not find named location "${name}"`, r.logContext());
      this.respondError(r, 500);
      return;
    }
    if (!this.countUriChange(r, `while redirect to named location "${name}"`)) return;
    r.location = location;
    this.content(r);
  }

  /** nginx allows 10 URI changes per request; the 11th is a 500. */
  private countUriChange(r: HttpRequest, action: string): boolean {
    if (++r.uriChanges <= 10) return true;
    this.errorLogFor(r).log("error", `rewrite or internal redirection cycle ${action}`, r.logContext());
    this.respondError(r, 500);
    return false;
  }

  connectionStats(): ConnectionStats {
    return this.services.connectionStats();
  }

  onBadHead(connection: ClientConnection, status: number, reason: string, requestLine?: string): void {
    this.defaultLog(connection).log("info", reason, this.contextFor(connection, requestLine));
    const head: RequestHead = {
      method: "",
      target: "",
      requestLine: requestLine ?? "",
      protocol: "",
      version: 1001,
      headers: [],
      length: 0,
    };
    this.respondError(this.startRequest(connection, head, EMPTY_FACTS), status);
  }

  onAbort(connection: ClientConnection): void {
    const r = this.inFlight.get(connection);
    if (r && !r.finished) {
      if (r.status === 0) r.status = 499;
      this.log(r);
    }
  }

  onHeadTimeout(connection: ClientConnection, partial: string): void {
    this.defaultLog(connection).log(
      "info",
      "client timed out (110: Connection timed out) while reading client request headers",
      {
        connectionId: connection.id,
        client: connection.remoteAddress,
        server: "",
      },
    );
    const line = partial.split("\r\n")[0] ?? "";
    const head: RequestHead = {
      method: "",
      target: "",
      requestLine: line,
      protocol: "",
      version: 1001,
      headers: [],
      length: 0,
    };
    const r = this.startRequest(connection, head, EMPTY_FACTS);
    r.status = 408;
    this.log(r);
  }

  respondError(r: HttpRequest, status: number, extras?: ErrorExtras): void {
    const connection = r.connection as ClientConnection;
    const keepAlive =
      r.facts.keepAlive && !errorClosesConnection(status) && connection.requests < r.loc.keepaliveRequests;
    const response = errorResponse(status, {
      keepAlive,
      head: r.method === "HEAD",
      serverTokens: r.loc.serverTokens,
      keepAliveHeader:
        r.loc.keepaliveHeaderSeconds !== undefined ? `timeout=${r.loc.keepaliveHeaderSeconds}` : undefined,
      location: extras?.location,
      extraHeaders: extras?.headers,
    });
    r.status = wireStatus(status);
    r.headerBytes = response.head.length;
    connection.write(response.head + response.body);
    this.finalize(r, keepAlive);
  }

  /** A JSON answer made by wsgate itself (wsgate_upstream_status); the connection closes after it. */
  private respondJson(r: HttpRequest, value: object): void {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    const head =
      `HTTP/1.1 200 OK\r\nDate: ${formatHttpDate(Date.now())}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    r.status = 200;
    r.headerBytes = head.length;
    const connection = r.connection as ClientConnection;
    connection.write(head);
    if (r.method !== "HEAD") connection.write(body);
    this.finalize(r, false);
  }

  finalize(r: HttpRequest, keepAlive: boolean): void {
    this.log(r);
    (r.connection as ClientConnection).finishRequest(keepAlive);
  }

  finalizeTunnel(r: HttpRequest): void {
    this.log(r);
  }

  private log(r: HttpRequest): void {
    if (r.finished) return;
    r.finished = true;
    this.services.accessLog.write(r.loc.accessLogs, r);
  }

  /** A request record for errors found before a server was chosen: the address's default server. */
  private startRequest(connection: ClientConnection, head: RequestHead, facts: RequestFacts): HttpRequest {
    const server = this.services.serversFor(connection).defaultServer;
    const r = new HttpRequest(connection, head, facts, "", "", head.target, server, undefined, Date.now());
    this.inFlight.set(connection, r);
    return r;
  }

  private defaultLog(connection: ClientConnection): ErrorLog {
    return this.services.errorLogFor(this.services.serversFor(connection).defaultServer.loc);
  }

  private contextFor(connection: ClientConnection, requestLine?: string): Parameters<ErrorLog["log"]>[2] {
    return {
      connectionId: connection.id,
      client: connection.remoteAddress,
      server: this.services.serversFor(connection).defaultServer.names[0] ?? "",
      ...(requestLine !== undefined ? { request: requestLine } : {}),
    };
  }
}
