/**
 * The life of a request, phase by phase (after nginx's phases and Pingora's
 * request filters): head read → checks → server → the rewrite phases
 * (src/rewrite/phases.ts: location, rewrite, internal redirects) → content
 * (proxy, wsgate_upstream_status, or the static handlers of src/static/) →
 * log. Every error response goes through respondError(), which sends the
 * location's error_page or nginx's page and status.
 */

import type { HttpConf, LocConf } from "../config/model.js";
import type { AccessLog } from "../log/access-log.js";
import type { ErrorLog } from "../log/error-log.js";
import { proxyRequest, type ProxyServices } from "../proxy/forward.js";
import type { UpstreamGroup } from "../upstream/group.js";
import type { ClientConnection, ConnectionEvents } from "./connection.js";
import { HttpRequest } from "./request.js";
import type { RequestHead } from "./request-head.js";
import { requestFacts, type RequestFacts } from "./request-headers.js";
import { selectServer, type AddressServers } from "./select-server.js";
import { errorClosesConnection, wireStatus } from "./special-response.js";
import { ownResponseHead, returnContentType, specialPageBody } from "./own-response.js";
import { errorPageFor, sendErrorPage } from "./error-page.js";
import { internalRedirect, namedLocation, runPhases, type PhaseHooks, type PhaseOutcome } from "../rewrite/phases.js";
import { onUninitializedVariable } from "../rewrite/variables.js";
import { parseTarget } from "./uri.js";
import { requestHeadersRead } from "../vars/http-variables.js";
import { recordMatch } from "../vars/captures.js";
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
    const r = new HttpRequest(
      connection,
      head,
      facts.ok,
      target.path,
      target.args,
      target.unparsed,
      server,
      undefined,
      Date.now(),
    );
    if (serverMatch) recordMatch(r, serverMatch);
    this.inFlight.set(connection, r);
    onUninitializedVariable(r, (name) => {
      if (r.loc.uninitializedVariableWarn)
        this.errorLogFor(r).log("warn", `using uninitialized "${name}" variable`, r.logContext());
    });
    connection.setKeepaliveTimeout(r.loc.keepaliveTimeoutMs);
    if (head.method === "CONNECT" || head.method === "TRACE") {
      this.respondError(r, 405);
      return;
    }
    if (connection.plainOnSslPort) {
      // ngx_http_process_request(): NGX_HTTP_TO_HTTPS, sent and logged as 400; error_page 497 may answer it.
      this.errorLogFor(r).log(
        "info",
        "client sent plain HTTP request to HTTPS port",
        r.logContext("while reading client request headers"),
      );
      this.respondError(r, 497);
      return;
    }
    this.afterPhases(r, runPhases(r, this.phaseHooks));
  }

  /** What the rewrite phases need from the flow. */
  private readonly phaseHooks: PhaseHooks = {
    errorLogFor: (r) => this.errorLogFor(r),
    afterFindConfig: (r) => this.checkBodySize(r),
  };

  /** nginx's find-config check: a declared body past client_max_body_size. */
  private checkBodySize(r: HttpRequest): number | undefined {
    const framing = r.facts.framing;
    const limit = r.loc.clientMaxBodySize;
    if (framing.kind === "length" && limit > 0 && framing.length > limit && !r.discardBody) {
      r.discardBody = true;
      this.errorLogFor(r).log(
        "error",
        `client intended to send too large body: ${framing.length} bytes`,
        r.logContext(),
      );
      return 413;
    }
    return undefined;
  }

  /** The phases ended: run the content handler, or send what the script answered. */
  private afterPhases(r: HttpRequest, outcome: PhaseOutcome): void {
    if (outcome.kind === "status") {
      if (outcome.discardsBody) r.answerExpect((text) => (r.connection as ClientConnection).write(text));
      this.respondError(r, outcome.status);
      return;
    }
    if (outcome.kind === "respond") {
      this.respondText(r, outcome.status, outcome.body);
      return;
    }
    this.content(r);
  }

  /** The try-files and content phases (src/static/content.ts): proxy_pass, else stub_status, index, files. */
  private content(r: HttpRequest): void {
    const connection = r.connection as ClientConnection;
    connection.setKeepaliveTimeout(r.loc.keepaliveTimeoutMs);
    contentPhase(r, this, () => {
      const location = r.location;
      if (location?.upstreamStatus) {
        this.respondJson(r, upstreamStatus(this.upstreams, Date.now()));
        return true;
      }
      if (!location?.proxyPass) return false;
      proxyRequest(r, connection, location, location.proxyPass, this);
      return true;
    });
  }

  /** index and try_files: ngx_http_internal_redirect(), from the server rewrite phase. */
  internalRedirect(r: HttpRequest, uri: string, args: string): void {
    r.addUriToAlias = false;
    r.variableCache.length = 0;
    this.afterPhases(r, internalRedirect(r, uri, args, this.phaseHooks));
  }

  /** try_files's `@name`: ngx_http_named_location(), from the rewrite phase. */
  namedLocation(r: HttpRequest, name: string): void {
    this.afterPhases(r, namedLocation(r, name, this.phaseHooks));
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

  /**
   * A status wsgate answers itself (nginx's special response): the location's
   * error_page for it if any, else nginx's page; 444 closes without a word.
   */
  respondError(r: HttpRequest, status: number, extras?: ErrorExtras): void {
    const connection = r.connection as ClientConnection;
    if (status === 444) {
      r.status = 444;
      this.log(r);
      connection.destroy();
      return;
    }
    r.errStatus = status;
    r.expectTested = true;
    if (errorClosesConnection(status)) r.keepAliveLost = true;
    const page = r.errorPage || r.uriChanges === 0 ? undefined : errorPageFor(r, status);
    if (page) {
      this.afterPhases(r, sendErrorPage(r, page, this.phaseHooks));
      return;
    }
    const code = r.errStatus || status;
    const send = wireStatus(code);
    const keepAlive = r.facts.keepAlive && !r.keepAliveLost && connection.requests < r.loc.keepaliveRequests;
    const body = specialPageBody(code, r.loc.serverTokens);
    const head = ownResponseHead(r, {
      status: send,
      contentType: body === undefined ? undefined : "text/html",
      contentLength: body?.length ?? 0,
      keepAlive,
      listed: extras?.headers,
    });
    r.status = send;
    r.headerBytes = head.length;
    connection.write(r.method === "HEAD" || body === undefined ? head : head + body);
    this.finalize(r, keepAlive);
  }

  /** `return code text` (ngx_http_send_response): the text as the body, typed by the URI's extension. */
  private respondText(r: HttpRequest, status: number, body: string): void {
    const connection = r.connection as ClientConnection;
    // nginx discards the body before it answers, and so answers "Expect: 100-continue" first.
    r.answerExpect((text) => connection.write(text));
    const send = r.errStatus || status;
    const keepAlive =
      r.facts.keepAlive &&
      !r.keepAliveLost &&
      r.loc.keepaliveTimeoutMs > 0 &&
      connection.requests < r.loc.keepaliveRequests;
    const head = ownResponseHead(r, {
      status: send,
      contentType: returnContentType(r),
      contentLength: Buffer.byteLength(body, "latin1"),
      keepAlive,
    });
    r.status = send;
    r.headerBytes = head.length;
    connection.write(r.method === "HEAD" || send === 204 ? head : head + body);
    this.finalize(r, keepAlive);
  }

  /** A JSON answer made by wsgate itself (wsgate_upstream_status); the connection closes after it. */
  private respondJson(r: HttpRequest, value: object): void {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    const head = ownResponseHead(r, {
      status: 200,
      contentType: "application/json",
      contentLength: body.length,
      keepAlive: false,
    });
    r.status = 200;
    r.headerBytes = head.length;
    const connection = r.connection as ClientConnection;
    connection.write(head);
    if (r.method !== "HEAD") connection.write(body);
    this.finalize(r, false);
  }

  finalize(r: HttpRequest, keepAlive: boolean): void {
    this.log(r);
    const connection = r.connection as ClientConnection;
    // Every answer wsgate makes itself drops an unread body first, as nginx's special response
    // handler and ngx_http_send_response() do; one still arriving then closes the connection.
    if (keepAlive) connection.discardBody(r.facts.framing);
    connection.finishRequest(keepAlive);
  }

  finalizeTunnel(r: HttpRequest): void {
    this.log(r);
  }

  /** A throw in the proxy's work for `r` (its upstream side already let go): an alert, the connection closed, the line logged. */
  crash(r: HttpRequest, err: unknown): void {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.errorLogFor(r).log("alert", `unexpected error: ${text}`, r.logContext("while proxying"));
    (r.connection as ClientConnection).destroy();
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
