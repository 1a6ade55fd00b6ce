/**
 * The life of a request, phase by phase (after nginx's phases and Pingora's
 * request filters): head read → checks → server → the rewrite phases
 * (phases.ts: location, rewrite, internal redirects) → try_files
 * and the location's content handler (content-handler.ts: proxy_pass,
 * stub_status, wsgate_upstream_status, static files — registered by the
 * serving process) → log. Every error response goes through respondError(),
 * which sends the location's error_page or nginx's special response; every
 * answer is written by the response writer, which keeps or closes the
 * connection by keep-alive.ts's rule.
 */

import type { HttpConf, LocConf } from "../config/model.js";
import type { AccessLog } from "../log/access-log.js";
import type { ErrorLog, RequestLogContext } from "../log/error-log.js";
import type { UpstreamGroup } from "../upstream/group.js";
import type { ClientConnection, ConnectionEvents } from "./connection.js";
import { HttpRequest, runCleanups } from "./request.js";
import { flowHooks } from "./request-hooks.js";
import type { RequestHead } from "./request-head.js";
import { requestFacts, type RequestFacts } from "./request-headers.js";
import { selectServer, type AddressServers } from "./select-server.js";
import { specialResponse } from "./special-response.js";
import { ownResponseHead, returnContentType } from "./own-response.js";
import { errorPageFor, sendErrorPage } from "./error-page.js";
import { answeredBeforeHandler, connectionKept, enterLocation, enterNamedLocation, errorMet } from "./keep-alive.js";
import { sendWhole } from "./response-writer.js";
import type { ConnectionStats, ContentFlow, ContentHandlers, ErrorExtras } from "./content-handler.js";
import { runRealip } from "./realip.js";
import { internalRedirect, namedLocation, runPhases, type PhaseHooks, type PhaseOutcome } from "./phases.js";
import { onUninitializedVariable } from "../config/rewrite/set-variables.js";
import { parseTarget } from "./uri.js";
import { uncaughtLine } from "../log/uncaught.js";
import { requestHeadersRead } from "../vars/http-variables.js";
import { recordMatch } from "../vars/captures.js";
import { countRequest } from "./http-metrics.js";
import { startSubrequest, type Subrequest, type SubrequestHost } from "./subrequest.js";

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
  /** The content handlers by location (proxy_pass, stub_status, static files …) and try_files. */
  readonly content: ContentHandlers;
}

/**
 * Statuses nginx's ngx_http_finalize_request() answers with nothing: the
 * connection is closed and the request logged with the status (444 from
 * `return`, 408 and 499 as nginx's terminate).
 */
const CLOSE_WITHOUT_ANSWER = new Set([444, 408, 499]);

const EMPTY_FACTS: RequestFacts = {
  host: "",
  framing: { kind: "none" },
  keepAlive: false,
  upgrade: false,
  expectContinue: false,
};

export class RequestFlow implements ConnectionEvents, ContentFlow, SubrequestHost {
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  readonly keepsResponseHeaders: boolean;
  readonly requestHeadersRead: ReadonlySet<string>;
  private readonly inFlight = new WeakMap<ClientConnection, HttpRequest>();

  constructor(private readonly services: FlowServices) {
    this.upstreams = services.upstreams;
    const variables = services.http.variables;
    this.keepsResponseHeaders =
      variables.usesPrefix("sent_http_") ||
      variables.usesPrefix("upstream_http_") ||
      variables.usesPrefix("upstream_cookie_");
    this.requestHeadersRead = requestHeadersRead(variables.usedNames());
    onUninitializedVariable(variables, (r, name) => {
      if (!(r instanceof HttpRequest) || !r.warnsUninitialized || !r.loc.uninitializedVariableWarn) return;
      this.errorLogFor(r).log("warn", `using uninitialized "${name}" variable`, r.logContext());
    });
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
    r.hooks = this.hooks.request;
    this.inFlight.set(connection, r);
    r.warnsUninitialized = true;
    connection.setKeepaliveTimeout(r.loc.keepaliveTimeoutMs);
    if (head.method === "CONNECT" || head.method === "TRACE") {
      // ngx_http_process_request_header(): refused before the request is handled, so never kept alive.
      answeredBeforeHandler(r);
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
      answeredBeforeHandler(r);
      this.respondError(r, 497);
      return;
    }
    r.reportsErrors = true;
    // The post-read phase: realip with the server's settings, before the server's rewrite script.
    runRealip(r, r.server.loc);
    this.afterPhases(r, runPhases(r, this.phaseHooks));
  }

  /** The error log and counters lent to every request (HttpRequest.hooks). */
  private readonly hooks = flowHooks(
    (r) => this.errorLogFor(r),
    () => this.services.connectionStats(),
  );

  /** A subrequest of `r` (subrequest.ts): auth_request's, a key set's fetch. */
  readonly subrequest: Subrequest = (r, uri, args, options) => startSubrequest(this, r, uri, args, options);

  /** A subrequest's record is made (on its own connection): from the server rewrite phase, as a client's. */
  runSubrequest(sr: HttpRequest): void {
    sr.hooks = this.hooks.subrequest;
    sr.reportsErrors = true;
    this.inFlight.set(sr.connection as ClientConnection, sr);
    sr.warnsUninitialized = true;
    this.afterPhases(sr, runPhases(sr, this.phaseHooks));
  }

  /** What the rewrite phases need from the flow. */
  private readonly phaseHooks: PhaseHooks = {
    errorLogFor: (r) => this.errorLogFor(r),
    afterFindConfig: (r) => {
      enterLocation(r);
      return this.checkBodySize(r);
    },
    subrequest: this.subrequest,
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
    if (outcome.kind === "wait") {
      this.whenChecked(r, outcome.until);
      return;
    }
    if (outcome.kind === "status") {
      if (outcome.discardsBody) r.answerExpect((text) => (r.connection as ClientConnection).write(text));
      if (outcome.headers) r.carriedHeaders = outcome.headers;
      this.respondError(r, outcome.status);
      return;
    }
    if (outcome.kind === "respond") {
      this.respondText(r, outcome.status, outcome.body);
      return;
    }
    this.content(r);
  }

  /**
   * A check of the access phases answers later: go on then, unless the request ended meanwhile (the client
   * went away: it was logged 499). A check that fails is an alert and a 500, as a throw elsewhere.
   */
  private whenChecked(r: HttpRequest, until: Promise<PhaseOutcome>): void {
    until.then(
      (outcome) => {
        if (r.finished) return;
        try {
          this.afterPhases(r, outcome);
        } catch (err) {
          this.crash(r, err);
        }
      },
      (err: unknown) => {
        if (r.finished) return;
        this.errorLogFor(r).log("alert", uncaughtLine(err), r.logContext());
        this.respondError(r, 500);
      },
    );
  }

  /** The try-files and content phases: the location's handler, chosen once per location. */
  private content(r: HttpRequest): void {
    r.reportsErrors = true;
    this.services.content.run(r, this);
  }

  /** index and try_files: ngx_http_internal_redirect(), from the server rewrite phase. */
  internalRedirect(r: HttpRequest, uri: string, args: string): void {
    r.addUriToAlias = false;
    r.variableCache.length = 0;
    this.afterPhases(r, internalRedirect(r, uri, args, this.phaseHooks));
  }

  /** try_files's `@name`: ngx_http_named_location(), from the rewrite phase. */
  namedLocation(r: HttpRequest, name: string): void {
    enterNamedLocation(r, name);
    this.afterPhases(r, namedLocation(r, name, this.phaseHooks));
  }

  connectionStats(): ConnectionStats {
    return this.services.connectionStats();
  }

  onBadHead(connection: ClientConnection, status: number, reason: string, requestLine?: string, host?: string): void {
    this.defaultLog(connection).log("info", reason, this.streamContext(connection, requestLine, host));
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
    const line = partial.split("\r\n")[0] ?? "";
    // nginx's action: the request line until it is whole, then the headers.
    const reading = partial.includes("\r\n") ? "headers" : "line";
    this.defaultLog(connection).log(
      "info",
      `client timed out (110: Connection timed out) while reading client request ${reading}`,
      { connectionId: connection.id, client: connection.remoteAddress, server: "", request: line },
    );
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

  resetsOnTimeout(connection: ClientConnection): boolean {
    return this.inFlight.get(connection)?.loc.resetTimedoutConnection === true;
  }

  /** A handler threw (connection.ts crash()): nginx's alert, and the request's log line if not written. */
  onCrash(connection: ClientConnection, err: Error, head: RequestHead | undefined): void {
    let r = this.inFlight.get(connection);
    // A throw before the request's record was made: one for its log line.
    if (head && r?.head !== head) r = this.startRequest(connection, head, EMPTY_FACTS);
    const line = uncaughtLine(err);
    if (!r || r.finished) {
      this.defaultLog(connection).log("alert", line, this.contextFor(connection));
      return;
    }
    this.errorLogFor(r).log("alert", line, r.logContext());
    if (r.status === 0) r.status = 500;
    this.log(r);
  }

  /**
   * A status wsgate answers itself (nginx's special response): the location's
   * error_page for it if any, else nginx's page (specialResponse()); 444, 408 and 499 close without a word.
   */
  respondError(r: HttpRequest, status: number, extras?: ErrorExtras): void {
    if (CLOSE_WITHOUT_ANSWER.has(status)) {
      r.status = status;
      this.log(r);
      (r.connection as ClientConnection).destroy();
      return;
    }
    r.errStatus = status;
    r.expectTested = true;
    errorMet(r, status);
    const page = r.errorPage || r.uriChanges === 0 ? undefined : errorPageFor(r, status);
    if (page) {
      this.afterPhases(r, sendErrorPage(r, page, this.phaseHooks));
      return;
    }
    const special = specialResponse(r, r.errStatus || status, extras?.headers);
    sendWhole(r, special.status, special.head, special.body, this.finish);
  }

  /** `return code text` (ngx_http_send_response): the text as the body, typed by the URI's extension. */
  private respondText(r: HttpRequest, status: number, body: string): void {
    const connection = r.connection as ClientConnection;
    // nginx discards the body before it answers, and so answers "Expect: 100-continue" first.
    r.answerExpect((text) => connection.write(text));
    const send = r.errStatus || status;
    const head = ownResponseHead(r, {
      status: send,
      contentType: returnContentType(r),
      contentLength: Buffer.byteLength(body, "latin1"),
    });
    sendWhole(r, send, head, send === 204 ? undefined : body, this.finish);
  }

  private readonly finish = (r: HttpRequest, keepAlive: boolean): void => this.finalize(r, keepAlive);

  /**
   * The response is complete: the access-log line, then the connection kept
   * for the next request (with the keepalive_timeout of the location the
   * request ended in) or closed.
   */
  finalize(r: HttpRequest, keepAlive: boolean): void {
    this.log(r);
    const connection = r.connection as ClientConnection;
    const kept = connectionKept(r, keepAlive);
    // Every answer wsgate makes itself drops an unread body first, as nginx's special response
    // handler and ngx_http_send_response() do; one still arriving then closes the connection.
    if (kept) {
      connection.discardBody(r.facts.framing);
      connection.setKeepaliveTimeout(r.loc.keepaliveTimeoutMs);
    }
    connection.finishRequest(kept);
  }

  finalizeTunnel(r: HttpRequest): void {
    this.log(r, true);
  }

  /**
   * A throw in a content handler's own callbacks (the proxy's upstream side, already let go): the
   * same alert as a connection's guard writes, the connection closed, the request logged (500).
   */
  crash(r: HttpRequest, err: unknown): void {
    this.errorLogFor(r).log("alert", uncaughtLine(err), r.logContext());
    (r.connection as ClientConnection).destroy();
    if (r.status === 0) r.status = 500;
    this.log(r);
  }

  private log(r: HttpRequest, tunnel = false): void {
    if (r.finished) return;
    r.finished = true;
    // ngx_http_finalize_request(): a subrequest is logged only where log_subrequest is on.
    if (r.parent === undefined || r.loc.logSubrequest) this.services.accessLog.write(r.loc.accessLogs, r);
    if (r.parent === undefined) countRequest(r.status, r.startMs, r.facts.upgrade, tunnel);
    runCleanups(r);
  }

  /** A request record for errors found before a server was chosen: the address's default server. */
  private startRequest(connection: ClientConnection, head: RequestHead, facts: RequestFacts): HttpRequest {
    const server = this.services.serversFor(connection).defaultServer;
    const r = new HttpRequest(connection, head, facts, "", "", head.target, server, undefined, Date.now());
    r.hooks = this.hooks.early;
    answeredBeforeHandler(r);
    this.inFlight.set(connection, r);
    return r;
  }

  private defaultLog(connection: ClientConnection): ErrorLog {
    return this.services.errorLogFor(this.services.serversFor(connection).defaultServer.loc);
  }

  /**
   * An HTTP/2 stream's headers are refused as they are read, before nginx has a request line: its log line
   * says "while reading client request headers" and names the host the headers had so far.
   */
  private streamContext(connection: ClientConnection, requestLine?: string, host?: string): RequestLogContext {
    if (connection.http2 === undefined) return this.contextFor(connection, requestLine);
    return {
      ...this.contextFor(connection, requestLine),
      action: "while reading client request headers",
      ...(host !== undefined ? { host } : {}),
    };
  }

  private contextFor(connection: ClientConnection, requestLine?: string): RequestLogContext {
    return {
      connectionId: connection.id,
      client: connection.remoteAddress,
      server: this.services.serversFor(connection).defaultServer.names[0] ?? "",
      ...(requestLine !== undefined ? { request: requestLine } : {}),
    };
  }
}
