/**
 * The configuration as the server uses it: plain data, every value resolved.
 *
 * Per-location settings (LocConf) follow nginx's create/merge scheme: each
 * level (http, server, location) records only what it sets, as a
 * Partial<LocConf>, and inherit() fills the rest from the enclosing level once
 * loading is done. Settings nginx does not inherit (proxy_pass, return) live on
 * the LocationConf itself.
 */

import type { SecureContext } from "node:tls";
import type { SourcePlace } from "./errors.js";
import type { ComplexValue } from "../vars/complex-value.js";
import type { VariableRegistry } from "../vars/registry.js";
import type { LogFormat } from "../log/format.js";
import type { RewriteCode } from "../rewrite/script.js";

export const LOG_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ErrorLogTarget {
  /** Absolute path, or "stderr". */
  readonly path: string;
  readonly level: LogLevel;
}

export interface MainConf {
  daemon: boolean;
  masterProcess: boolean;
  workerProcesses: number | "auto";
  /** Absolute path of the pid file; "" when `pid off` ... nginx has no off, so never "". */
  pid: string;
  errorLogs: ErrorLogTarget[];
  workerConnections: number;
  workerShutdownTimeoutMs: number | undefined;
  workerRlimitNofile: number | undefined;
  user: { user: string; group: string; place?: SourcePlace } | undefined;
  /** `wsgate_close_frames`: WebSocket tunnels ended at shutdown get 1001 close frames instead of a TCP cut. */
  wsgateCloseFrames: boolean;
  /** `wsgate_shutdown_drain`: at a graceful shutdown, tunnels are closed (1001) spread over this time. */
  wsgateShutdownDrainMs: number | undefined;
}

export interface ListenConf {
  /** "" for all addresses (nginx's `listen 8020` is *:8020, IPv4 only). */
  readonly host: string;
  readonly port: number;
  readonly defaultServer: boolean;
  readonly ipv6only: boolean;
  readonly backlog: number;
  /** `ssl`: connections to this address speak TLS (src/http/tls-accept.ts). */
  readonly ssl?: boolean;
  /** As nginx names it in messages: "0.0.0.0:8020", "[::]:8020". */
  readonly text: string;
  readonly place: SourcePlace;
}

export interface HeaderSetting {
  readonly name: string;
  readonly value: ComplexValue;
}

export interface ProxyPass {
  /** http or https (as written). */
  readonly scheme: "http" | "https";
  /** An upstream group's name, or host:port of the implicit one. */
  readonly upstream: string;
  /** The value of $proxy_host: the group name, or host[:port] as written. */
  readonly proxyHost: string;
  /** The URI part of proxy_pass (`http://b/x/` → "/x/"); undefined when none was written. */
  readonly uri: string | undefined;
  /**
   * A URL with variables, evaluated per request (the fields above then come from
   * its value). Its URI part, if any, is sent as it is, in place of the request's.
   */
  readonly dynamic?: ComplexValue;
  /** Send `uri` as it is, or the client's unparsed URI when there is none (proxy_pass with variables). */
  readonly wholeUri?: boolean;
  /** The URL as written ("http://b:8010/x/"): proxy_redirect default's pattern. */
  readonly url: string;
  readonly place: SourcePlace;
}

/**
 * `allow` / `deny`: an address with a prefix length (IPv4 or IPv6, the
 * address's low bits cleared), `all`, or `unix:`.
 */
export interface AccessRule {
  readonly allow: boolean;
  readonly match:
    | { readonly kind: "all" }
    | { readonly kind: "unix" }
    | { readonly kind: "cidr"; readonly family: 4 | 6; readonly bytes: Uint8Array; readonly prefix: number };
}

/** `add_header name value [always]`. */
export interface AddHeader {
  readonly name: string;
  readonly value: ComplexValue;
  readonly always: boolean;
}

/** One status of an `error_page` line. */
export interface ErrorPage {
  readonly status: number;
  /** -1 without "=", 0 for a bare "=" (the redirected response's status), else the status after "=". */
  readonly overwrite: number;
  readonly uri: ComplexValue;
}

/** One `proxy_redirect` line; `default` is resolved against the location's proxy_pass. */
export type ProxyRedirect =
  | { readonly kind: "text"; readonly pattern: ComplexValue; readonly replacement: ComplexValue }
  | { readonly kind: "regex"; readonly regex: RegExp; readonly replacement: ComplexValue }
  | { readonly kind: "default"; readonly pattern: string; readonly replacement: string };

export interface AccessLogTarget {
  /** Absolute path, or "stderr". */
  readonly path: string;
  readonly format: LogFormat;
  readonly bufferBytes: number;
  readonly flushMs: number;
  readonly condition: ComplexValue | undefined;
}

/**
 * `root` or `alias` (ngx_http_core_root): the path a URI maps to. `alias` is
 * 0 for root, the location prefix's length for a prefix location's alias, and
 * "regex" for an alias in a regex location (the alias is then the whole path).
 */
export interface DocumentRoot {
  readonly alias: number | "regex";
  /** Absolute path without variables, or the compiled value (resolved against the prefix at run time). */
  readonly path: string | ComplexValue;
  /** The prefix a relative evaluated path resolves against. */
  readonly prefix: string;
}

/** One `index` name: literal, or with variables. */
export interface IndexName {
  readonly name: string;
  readonly value: ComplexValue | undefined;
}

/** `try_files`: the candidates, then what to do when none exists. */
export interface TryFiles {
  readonly candidates: ReadonlyArray<{ readonly value: ComplexValue; readonly testDir: boolean }>;
  /** A status code (`=404`), or a URI or `@name` to go to. */
  readonly fallback: { readonly code: number } | { readonly uri: ComplexValue };
}

/** A temporary-file folder (ngx_path_t): absolute path, and the lengths of its hashed subfolders. */
export interface TempPath {
  readonly path: string;
  readonly levels: readonly number[];
}

/** Everything a location may set and inherit. */
export interface LocConf {
  proxyHttpVersion: "1.0" | "1.1";
  proxySetHeaders: readonly HeaderSetting[];
  proxyConnectTimeoutMs: number;
  proxyReadTimeoutMs: number;
  proxySendTimeoutMs: number;
  proxyBuffering: boolean;
  proxyRequestBuffering: boolean;
  /** client_body_buffer_size: a buffered request body past this goes to a temporary file. */
  clientBodyBufferSize: number;
  clientBodyTempPath: TempPath;
  proxyPassRequestHeaders: boolean;
  proxyPassRequestBody: boolean;
  proxyHideHeaders: readonly string[];
  proxyPassHeaders: readonly string[];
  /** undefined = no access_log at this level yet; "off" = access_log off. */
  accessLogs: readonly AccessLogTarget[] | "off";
  errorLogs: readonly ErrorLogTarget[] | undefined;
  keepaliveTimeoutMs: number;
  keepaliveHeaderSeconds: number | undefined;
  keepaliveRequests: number;
  sendTimeoutMs: number;
  clientBodyTimeoutMs: number;
  clientMaxBodySize: number;
  defaultType: string;
  types: ReadonlyMap<string, string>;
  /** `internal`: only internal redirects (error_page, try_files, index, rewrite) may use the location. */
  internal: boolean;
  sendfile: boolean;
  tcpNopush: boolean;
  tcpNodelay: boolean;
  serverTokens: "on" | "off" | "build";
  chunkedTransferEncoding: boolean;
  /** proxy_next_upstream (default error timeout); empty for `off`. */
  proxyNextUpstream: ReadonlySet<NextUpstreamCondition>;
  /** proxy_next_upstream_tries; 0 = no limit. */
  proxyNextUpstreamTries: number;
  /** proxy_next_upstream_timeout; 0 = no limit. */
  proxyNextUpstreamTimeoutMs: number;
  root: DocumentRoot;
  index: readonly IndexName[];
  etag: boolean;
  ifModifiedSince: "off" | "exact" | "before";
  maxRanges: number;
  logNotFound: boolean;
  absoluteRedirect: boolean;
  portInRedirect: boolean;
  serverNameInRedirect: boolean;
  rewriteLog: boolean;
  uninitializedVariableWarn: boolean;
  /** add_header lines of the nearest level that has any. */
  addHeaders: readonly AddHeader[];
  /** allow/deny lines of the nearest level that has any, in order. */
  accessRules: readonly AccessRule[];
  /** error_page lines of the nearest level that has any. */
  errorPages: readonly ErrorPage[];
  recursiveErrorPages: boolean;
  proxyInterceptErrors: boolean;
  /** proxy_redirect lines; "off", or undefined for nginx's default (derived from proxy_pass). */
  proxyRedirects: readonly ProxyRedirect[] | "off" | undefined;
  /** `resolver`; undefined: none (a host name in proxy_pass with variables is then a 502). */
  resolver: ResolverConf | undefined;
  /** resolver_timeout (default 30s). */
  resolverTimeoutMs: number;
}

/** `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off]`. */
export interface ResolverConf {
  /** Name servers: an address (IPv6 without brackets) and a port (53 unless written). */
  readonly servers: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** valid=: how long answers are kept, overriding their TTL; undefined: the TTL. */
  readonly validMs: number | undefined;
  readonly ipv4: boolean;
  readonly ipv6: boolean;
  readonly place: SourcePlace;
}

/** ngx_http_ssl_module's settings, at http and server level (src/config/modules/ssl.ts). */
export interface SslSrvConf {
  /** ssl_certificate lines of the nearest level that has any: absolute paths; undefined: none. */
  sslCertificates: readonly string[] | undefined;
  sslCertificateKeys: readonly string[] | undefined;
  /** ssl_protocols: "SSLv2" … "TLSv1.3". */
  sslProtocols: readonly string[];
  sslCiphers: string;
  sslPreferServerCiphers: boolean;
  /** ssl_session_cache as written (accepted; see README "TLS"). */
  sslSessionCache: readonly string[] | undefined;
  sslSessionTimeoutMs: number;
  sslSessionTickets: boolean;
  /** ssl_dhparam: absolute path; undefined: none. */
  sslDhparam: string | undefined;
  sslEcdhCurve: string;
}

export interface SrvConf extends SslSrvConf {
  clientHeaderTimeoutMs: number;
  clientHeaderBufferSize: number;
  largeClientHeaderBuffers: { readonly count: number; readonly size: number };
  /** Only checked against large_client_header_buffers, as nginx checks it. */
  connectionPoolSize: number;
  /** Header lines a request may have (ignored ones do not count). */
  maxHeaders: number;
  ignoreInvalidHeaders: boolean;
  underscoresInHeaders: boolean;
  mergeSlashes: boolean;
}

export type LocationModifier = "" | "=" | "^~" | "~" | "~*" | "@";

export interface LocationConf {
  readonly modifier: LocationModifier;
  readonly path: string;
  readonly regex: RegExp | undefined;
  loc: LocConf;
  readonly locations: LocationConf[];
  proxyPass: ProxyPass | undefined;
  /** wsgate_upstream_status: the location answers with the upstreams' state. */
  readonly upstreamStatus?: boolean;
  /** Not inherited, as nginx's try_files and stub_status. */
  tryFiles?: TryFiles | undefined;
  stubStatus?: boolean | undefined;
  readonly place: SourcePlace;
  /** The location's rewrite script (rewrite phase); undefined when it has none. */
  readonly rewrite?: readonly RewriteCode[] | undefined;
  /** An `if` block's level: same name as the enclosing location, no locations of its own. */
  readonly noname?: boolean;
}

export interface ServerConf {
  readonly listens: ListenConf[];
  readonly names: string[];
  srv: SrvConf;
  loc: LocConf;
  readonly locations: LocationConf[];
  /** try_files and stub_status at server level: in force where no location matches. */
  tryFiles?: TryFiles | undefined;
  stubStatus?: boolean | undefined;
  readonly place: SourcePlace;
  /** The server's rewrite script (server rewrite phase); undefined when it has none. */
  readonly rewrite?: readonly RewriteCode[] | undefined;
  /** Its TLS context (certificates, protocols, ciphers), when it has ssl_certificate. */
  secureContext?: SecureContext | undefined;
}

export interface UpstreamServerConf {
  /** As written: "127.0.0.1:8010", "unix:/path", "backend.local:80". */
  readonly name: string;
  /** Resolved addresses (a hostname may resolve to several). */
  readonly addresses: ReadonlyArray<UpstreamAddress>;
  readonly weight: number;
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly backup: boolean;
  readonly down: boolean;
  readonly maxConns: number;
  /** `resolve`: the name is resolved at run time through the resolver, and again when its answer expires. */
  readonly resolve?: boolean;
  readonly place: SourcePlace;
}

export type UpstreamAddress =
  | { readonly kind: "inet"; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: "unix"; readonly path: string; readonly text: string };

export interface UpstreamConf {
  readonly name: string;
  readonly servers: UpstreamServerConf[];
  /** True for groups made from a literal `proxy_pass http://host:port`. */
  readonly implicit: boolean;
  readonly place: SourcePlace;
  /** least_conn, ip_hash, hash; round-robin when undefined. */
  balancing?: UpstreamBalancing;
  /** `keepalive N` with keepalive_requests/_time/_timeout; undefined: no connection cache. */
  keepalive?: UpstreamKeepaliveConf;
  /** The group's keepalive_requests/_time/_timeout as written (they act only with `keepalive N`). */
  keepaliveSettings?: { requests?: number; timeMs?: number; timeoutMs?: number };
  /** wsgate_health_check. */
  healthCheck?: HealthCheckConf;
  /** `zone NAME [SIZE]`: accepted; wsgate keeps each worker's peer state in that worker. */
  zone?: { readonly name: string; readonly size: number };
  /** The group's own `resolver` (else the http block's is used for `server … resolve`). */
  resolver?: ResolverConf;
  resolverTimeoutMs?: number;
}

export type UpstreamBalancing =
  | { readonly kind: "least-conn" }
  | { readonly kind: "ip-hash" }
  | { readonly kind: "hash"; readonly key: ComplexValue; readonly consistent: boolean };

export interface UpstreamKeepaliveConf {
  readonly max: number;
  readonly requests: number;
  readonly timeMs: number;
  readonly timeoutMs: number;
}

/** `wsgate_health_check [interval=5s] [passes=2] [fails=3] [uri=/] [type=http|websocket] [timeout=…]`. */
export interface HealthCheckConf {
  readonly intervalMs: number;
  readonly passes: number;
  readonly fails: number;
  readonly uri: string;
  readonly type: "http" | "websocket";
  readonly timeoutMs: number;
  readonly place: SourcePlace;
}

/** proxy_next_upstream's conditions (nginx's NGX_HTTP_UPSTREAM_FT_* bits). */
export type NextUpstreamCondition =
  | "error"
  | "timeout"
  | "invalid_header"
  | "http_500"
  | "http_502"
  | "http_503"
  | "http_504"
  | "http_403"
  | "http_404"
  | "http_429"
  | "non_idempotent"
  | "updating"
  | "off";

export interface HttpConf {
  readonly servers: ServerConf[];
  readonly upstreams: Map<string, UpstreamConf>;
  readonly logFormats: Map<string, LogFormat>;
  readonly variables: VariableRegistry;
  /** The http level's own settings (its access_log files are opened even when every server overrides them). */
  readonly loc: LocConf;
}

export interface Config {
  /** The main configuration file, absolute. */
  readonly file: string;
  readonly prefix: string;
  readonly confPrefix: string;
  readonly main: MainConf;
  readonly http: HttpConf | undefined;
  /** Every file read, for `-T`. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly text: string }>;
  /** Warnings of the directives, as read (nginx's words, with their place). */
  readonly warnings: readonly string[];
}

/** nginx's merge: what a level left unset comes from the level around it. */
export function inherit<T extends object>(own: Partial<T>, parent: T): T {
  const merged = { ...parent };
  for (const key of Object.keys(own) as Array<keyof T>) {
    const value = own[key];
    if (value !== undefined) merged[key] = value as T[keyof T];
  }
  return merged;
}
