/**
 * One request's context, carried through every phase (read head → select
 * server and location → proxy or respond → log), and the source of its
 * variables.
 */

import type { LocConf, LocationConf, ServerConf } from "../config/model.js";
import type {
  ConnectionCounters,
  HeaderList,
  JwtFacts,
  ProxyProtocolFacts,
  RequestBodyFacts,
  TlsFacts,
  UpstreamTry,
  VariableSource,
  WsTunnelFacts,
} from "../vars/source.js";
import type { RequestHead } from "./request-head.js";
import type { GzipCounts } from "../vars/gzip-ratio.js";
import type { RequestFacts } from "./request-headers.js";
import type { ErrorLog, RequestLogContext } from "../log/error-log.js";
import { isHeaderOfVariable } from "../vars/http-variables.js";
import { documentRoot, mapUriToPath } from "./paths.js";
import { realpathSync } from "node:fs";
import { systemErrorText } from "../core/errors.js";
import type { RealAddress } from "./realip.js";

/** What the request flow lends a request (HttpRequest.hooks). */
export interface RequestHooks {
  errorLogFor(r: HttpRequest): ErrorLog;
  /** The worker's connection counters ($connections_active …); undefined where the flow gives none. */
  connectionStats(r: HttpRequest): ConnectionCounters | undefined;
}

/** What a request needs from the connection it arrived on. */
export interface ConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Bytes written to the client so far, over the connection's life. */
  bytesWritten(): number;
  readonly requests: number;
  /** When the connection was accepted (Date.now()): keepalive_time counts from it, as c->start_time. */
  readonly startMs: number;
  /** Body bytes of the request in flight read so far. */
  readonly bodyBytesRead: number;
  /** The TLS session, on a `listen … ssl` address; undefined for plain HTTP. */
  readonly tls?: TlsFacts | undefined;
  /** The PROXY protocol header's addresses, on a `listen … proxy_protocol` address. */
  readonly proxyProtocol?: ProxyProtocolFacts | undefined;
  /** The request in flight was read from bytes left over by the previous one. */
  readonly pipelined?: boolean;
  /** The request came on an HTTP/2 stream: "h2" over TLS, "h2c" in clear text. */
  readonly http2?: "h2" | "h2c" | undefined;
}

export class HttpRequest implements VariableSource {
  readonly variableCache: Array<string | null | undefined> = [];
  status = 0;
  /** Bytes of the response head we sent (for $body_bytes_sent). */
  headerBytes = 0;
  responseHeaders: HeaderList = [];
  /** The gzip filter's bytes in and out ($gzip_ratio); undefined unless a compressed body went through. */
  gzipCounts: GzipCounts | undefined = undefined;
  readonly upstreamTries: UpstreamTry[] = [];
  proxyHost = "";
  /** $proxy_port of the proxy_pass in force. */
  proxyPort: string | undefined = undefined;
  /** The body once read ($request_body, $request_body_file). */
  requestBody: RequestBodyFacts | undefined = undefined;
  /**
   * What the request flow lends every request it takes in (one object for all of them, not closures per
   * request): the error log in force, the worker's connection counters. Undefined outside a flow.
   */
  hooks: RequestHooks | undefined = undefined;
  /** Errors found while evaluating (realpath, a size, a TLV) go to the error log: set when the flow says so. */
  reportsErrors = false;
  /** $pipe, fixed when the request is made. */
  readonly pipelined: boolean;
  captures: readonly string[] | undefined = undefined;
  namedCaptures: Readonly<Record<string, string>> | undefined = undefined;
  /** Set when the response is complete and the access log line written. */
  finished = false;
  /** What must be undone when the request ends (a held limit_conn slot …): addCleanup(). */
  cleanups: Array<() => void> | undefined = undefined;
  /** try_files chose a file in a regex location with alias: the URI is added to the alias. */
  addUriToAlias = false;
  /** nginx's r->uri_changes: URI changes and internal redirects left before "rewrite or internal redirection cycle". */
  uriChanges = 11;
  /** A rewrite changed the URI: the location is searched again (r->uri_changed). */
  uriChanged = false;
  /** The URI was changed inside wsgate (rewrite, error_page): it goes upstream escaped (r->internal). */
  internal = false;
  /** The client's target still describes the URI (r->valid_unparsed_uri). */
  validUnparsedUri = true;
  /** The location's prefix may be replaced by proxy_pass's URI (r->valid_location; `rewrite … break` clears it). */
  validLocation = true;
  /** An error_page has been used (r->error_page), so another error is not redirected again. */
  errorPage = false;
  /** The status every response head of this request carries after an error_page (r->err_status); 0 for none. */
  errStatus = 0;
  /** The Location of a response wsgate makes itself (return, rewrite redirect, error_page URL). */
  outLocation: string | undefined = undefined;
  /** "100 Continue" was answered, or may no longer be (r->expect_tested). */
  expectTested = false;
  /** nginx's r->keepalive = 0, set by keep-alive.ts (a closing error, a location's keepalive settings …); read it through keepAliveAllowed(). */
  keepAliveLost = false;
  /** The request flow took this request in: a read of a `set` variable before any `set` may warn. */
  warnsUninitialized = false;
  /** The body is being thrown away (r->discard_body): client_max_body_size is not checked again. */
  discardBody = false;
  /** The upstream of a proxying that ended in an error_page: nginx keeps naming it in error-log lines. */
  upstreamForLog: string | undefined = undefined;
  /** The client's address realip put in force ($remote_addr, allow/deny, logs); undefined: the connection's. */
  realAddress: RealAddress | undefined = undefined;
  /** The method after an error_page redirect turned it into GET. */
  methodOverride: string | undefined = undefined;
  /**
   * c->log->action as a subrequest's upstream left it ("while sending to client", set by
   * ngx_http_upstream_finalize_request() for the whole connection): lines that name no action of their own
   * carry it.
   */
  logAction: string | undefined = undefined;
  /** The request a subrequest was made for (r->parent); undefined for a request from the client. */
  parent: HttpRequest | undefined = undefined;
  /** r->limit_rate: undefined until the response's first write evaluates limit_rate (or `set $limit_rate`, X-Accel-Limit-Rate). */
  limitRate: number | undefined = undefined;
  /** The token auth_jwt accepted ($jwt_claim_NAME …), set in the access phase. */
  jwt: JwtFacts | undefined = undefined;
  /** The WebSocket tunnel's counters, once a tunnel that follows frames started ($wsgate_… variables). */
  wsTunnel: WsTunnelFacts | undefined = undefined;
  /** r->main->limit_conn_status: set once limit_conn has counted the request (an internal redirect is not counted again). */
  limitConnStatus: "PASSED" | "REJECTED" | "REJECTED_DRY_RUN" | undefined = undefined;
  /** r->main->limit_req_status: set once limit_req has decided (an internal redirect is not counted again). */
  limitReqStatus: "PASSED" | "DELAYED" | "REJECTED" | "DELAYED_DRY_RUN" | "REJECTED_DRY_RUN" | undefined = undefined;
  private readonly bytesAtStart: number;

  constructor(
    readonly connection: ConnectionInfo,
    readonly head: RequestHead,
    readonly facts: RequestFacts,
    /** Changed by an internal redirect (index, try_files). */
    public uri: string,
    public args: string,
    /** The target's path and query as sent, what proxy_pass without URI passes on. */
    readonly unparsedUri: string,
    readonly server: ServerConf,
    public location: LocationConf | undefined,
    readonly startMs: number,
  ) {
    this.bytesAtStart = connection.bytesWritten();
    this.pipelined = connection.pipelined ?? false;
  }

  /** The settings in force: the location's, or the server's when no location matched. */
  get loc(): LocConf {
    return this.location?.loc ?? this.server.loc;
  }

  get remoteAddress(): string {
    return this.realAddress?.address ?? this.connection.remoteAddress;
  }
  get remotePort(): number {
    return this.realAddress ? this.realAddress.port : this.connection.remotePort;
  }
  get realipRemoteAddress(): string {
    return this.connection.remoteAddress;
  }
  get realipRemotePort(): number {
    return this.connection.remotePort;
  }
  get proxyProtocol(): ProxyProtocolFacts | undefined {
    return this.connection.proxyProtocol;
  }
  /** $proxy_protocol_tlv_* reports a broken TLV at error level, as nginx, in the request's context. */
  get variableError(): (message: string) => void {
    return (message) => this.reportError("error", message, this.logContext());
  }
  get serverAddress(): string {
    return this.connection.localAddress;
  }
  get serverPort(): number {
    return this.connection.localPort;
  }
  get connectionId(): number {
    return this.connection.id;
  }
  get connectionRequests(): number {
    return this.connection.requests;
  }
  get connectionStartMs(): number {
    return this.connection.startMs;
  }
  get tls(): TlsFacts | undefined {
    return this.connection.tls;
  }
  /** $http2. */
  get http2Protocol(): string {
    return this.connection.http2 ?? "";
  }
  get method(): string {
    return this.methodOverride ?? this.head.method;
  }
  get requestLine(): string {
    return this.head.requestLine;
  }
  get requestTarget(): string {
    return this.head.target;
  }
  get httpVersion(): string {
    return this.head.protocol;
  }
  get headers(): HeaderList {
    return this.head.headers;
  }
  get hostHeader(): string {
    return this.facts.host;
  }
  /** ngx_http_core_merge_srv_conf(): the first name as written, a regex with its "~", ".name" without the dot. */
  get serverName(): string {
    const first = this.server.names[0] ?? "";
    return first.startsWith(".") ? first.slice(1) : first;
  }
  /** Request line, headers and body as received. */
  get requestLength(): number {
    return this.head.length + this.connection.bodyBytesRead;
  }
  get bytesSent(): number {
    return this.connection.bytesWritten() - this.bytesAtStart;
  }
  /** $request_filename: the file the URI maps to in the location in force. */
  get requestFilename(): string {
    return mapUriToPath(this).path;
  }
  /**
   * Headers a phase added to r->headers_out before answering (auth_basic's
   * WWW-Authenticate): they stay on whatever answers, an error_page too.
   */
  carriedHeaders: ReadonlyArray<readonly [string, string]> | undefined = undefined;
  /** The error log of the location in force, for response filters that log; undefined outside a request flow. */
  errorLog(): ErrorLog | undefined {
    return this.hooks?.errorLogFor(this);
  }
  /** The worker's connection counters ($connections_active …), where the request flow gives them. */
  connectionStats(): ConnectionCounters | undefined {
    return this.hooks?.connectionStats(this);
  }
  /** Where $realpath_root reports a failed realpath(), and a response an invalid limit_rate (once reportsErrors). */
  reportError(level: "crit" | "error", message: string, context: RequestLogContext): void {
    if (this.reportsErrors) this.errorLog()?.log(level, message, context);
  }
  get realpathRoot(): string | undefined {
    const root = this.documentRoot;
    try {
      return realpathSync.native(root);
    } catch (err) {
      const context = this.logContext(this.finished ? "while logging request" : undefined);
      this.reportError("crit", `realpath() "${root}" failed (${systemErrorText(err)})`, context);
      return undefined;
    }
  }
  /** $document_root: the root or alias in force. */
  get documentRoot(): string {
    return documentRoot(this, this.loc.root);
  }
  get bodyBytesSent(): number {
    return Math.max(0, this.bytesSent - this.headerBytes);
  }

  /**
   * ngx_http_test_expect(): when wsgate is about to read (or discard) the body,
   * an HTTP/1.1 `Expect: 100-continue` gets "100 Continue" — once, body or not.
   * Not over HTTP/2 (r->stream): the client sends its body when it will.
   */
  answerExpect(write: (text: string) => void): void {
    if (this.expectTested) return;
    this.expectTested = true;
    const http1 = this.head.version >= 1001 && this.connection.http2 === undefined;
    if (this.facts.expectContinue && http1) write("HTTP/1.1 100 Continue\r\n\r\n");
  }

  /** Drop the request headers no variable reads (`names` as variable-style names): a tunnel lives for hours. */
  keepOnlyHeaders(names: ReadonlySet<string>): void {
    const headers = this.head.headers;
    let kept = 0;
    for (const header of headers) if (readByVariable(header[0], names)) headers[kept++] = header;
    headers.length = kept;
  }

  /** What nginx appends to an error-log line about this request. */
  changeArgs(args: string): void {
    this.args = args;
    this.validUnparsedUri = false;
  }

  logContext(action?: string, upstream?: string): RequestLogContext {
    const hostHeader = this.head.headers.find(([name]) => name.toLowerCase() === "host")?.[1];
    return {
      connectionId: this.connection.id,
      client: this.remoteAddress,
      server: this.serverName,
      request: this.head.requestLine,
      // ngx_http_log_error_handler(): a line about a subrequest names its URI.
      ...(this.parent !== undefined ? { subrequest: this.uri } : {}),
      ...(upstream !== undefined
        ? { upstream }
        : this.upstreamForLog !== undefined
          ? { upstream: this.upstreamForLog }
          : {}),
      ...(hostHeader !== undefined ? { host: hostHeader } : {}),
      ...(action !== undefined ? { action } : this.logAction !== undefined ? { action: this.logAction } : {}),
    };
  }
}

/**
 * Run `cleanup` when `r` ends (its log line written), as nginx's request pool cleanups: at once if it has
 * ended already (a check that answered after the client went away).
 */
export function addCleanup(r: HttpRequest, cleanup: () => void): void {
  if (r.finished) cleanup();
  else (r.cleanups ??= []).push(cleanup);
}

/** The request ended: its cleanups, once. */
export function runCleanups(r: HttpRequest): void {
  const cleanups = r.cleanups;
  if (cleanups === undefined) return;
  r.cleanups = undefined;
  for (const cleanup of cleanups) cleanup();
}

/** names.has(variableName(headerName)), without a string made per header (the set is the few names variables read). */
function readByVariable(headerName: string, names: ReadonlySet<string>): boolean {
  for (const name of names) if (isHeaderOfVariable(headerName, name)) return true;
  return false;
}
