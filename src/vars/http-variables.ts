/**
 * The request, connection, response and upstream variables of
 * ngx_http_variables.c, ngx_http_upstream.c and ngx_http_proxy_module.c,
 * with nginx's values in the corner cases: a missing header is "not found"
 * (printed "-" in access logs), repeated headers are joined with ", "
 * (cookies with "; ") as nginx does since 1.23, and per-try upstream values
 * are comma-separated.
 */

import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { NGINX_VERSION } from "../version.js";
import type { VariableRegistry } from "./registry.js";
import type { HeaderList, UpstreamTry, VariableSource } from "./source.js";
import { formatIso8601, formatLocalTime, formatMsec } from "./time.js";

type Getter = (r: VariableSource) => string | undefined;

const FIXED: Record<string, Getter> = {
  remote_addr: (r) => r.remoteAddress,
  remote_port: (r) => String(r.remotePort),
  server_addr: (r) => r.serverAddress,
  server_port: (r) => String(r.serverPort),
  connection: (r) => String(r.connectionId),
  connection_requests: (r) => String(r.connectionRequests),
  request: (r) => r.requestLine,
  request_method: (r) => r.method,
  request_uri: (r) => r.requestTarget,
  scheme: (r) => (r.tls ? "https" : "http"),
  https: (r) => (r.tls ? "on" : ""),
  // ngx_http_ssl_module's: not found on a plain connection, or when empty.
  ssl_protocol: (r) => r.tls?.protocol || undefined,
  ssl_cipher: (r) => r.tls?.cipher || undefined,
  ssl_server_name: (r) => r.tls?.serverName || undefined,
  ssl_alpn_protocol: (r) => r.tls?.alpnProtocol || undefined,
  ssl_session_reused: (r) => (r.tls ? (r.tls.sessionReused ? "r" : ".") : undefined),
  // 0-RTT data is not accepted (Node's TLS has none): "1" never, so not found, as nginx's empty value.
  ssl_early_data: () => undefined,
  server_protocol: (r) => r.httpVersion,
  host: (r) => r.hostHeader || r.serverName,
  server_name: (r) => r.serverName,
  hostname: () => hostname(),
  pid: () => String(process.pid),
  nginx_version: () => NGINX_VERSION,
  content_length: (r) => header(r.headers, "content-length"),
  content_type: (r) => header(r.headers, "content-type"),
  remote_user: (r) => basicAuthUser(r.headers),
  request_length: (r) => String(r.requestLength),
  proxy_host: (r) => r.proxyHost || undefined,
  proxy_add_x_forwarded_for: (r) => {
    const forwarded = header(r.headers, "x-forwarded-for");
    return forwarded === undefined ? r.remoteAddress : `${forwarded}, ${r.remoteAddress}`;
  },
  request_id: () => randomBytes(16).toString("hex"),
};

/** Values that change while a request is served (rewrite changes $uri and $args): never cached. */
const CHANGING: Record<string, Getter> = {
  is_args: (r) => (r.args !== "" ? "?" : ""),
  query_string: (r) => r.args,
  args: (r) => r.args,
  document_uri: (r) => r.uri,
  uri: (r) => r.uri,
  status: (r) => String(r.status).padStart(3, "0"),
  body_bytes_sent: (r) => String(r.bodyBytesSent),
  bytes_sent: (r) => String(r.bytesSent),
  request_time: (r) => ((Date.now() - r.startMs) / 1000).toFixed(3),
  time_local: () => formatLocalTime(Date.now()),
  time_iso8601: () => formatIso8601(Date.now()),
  msec: () => formatMsec(Date.now()),
  request_filename: (r) => r.requestFilename,
  document_root: (r) => r.documentRoot,
  realpath_root: (r) => r.realpathRoot,
  upstream_addr: (r) => perTry(r, (t) => t.addr),
  upstream_status: (r) => perTry(r, (t) => (t.status ? String(t.status) : "-")),
  upstream_connect_time: (r) => perTry(r, (t) => seconds(t.connectMs)),
  upstream_header_time: (r) => perTry(r, (t) => seconds(t.headerMs)),
  upstream_response_time: (r) => perTry(r, (t) => seconds(t.responseMs)),
  upstream_bytes_received: (r) => perTry(r, (t) => String(t.bytesReceived)),
  upstream_bytes_sent: (r) => perTry(r, (t) => String(t.bytesSent)),
  limit_rate: (r) => String(r.limitRate ?? 0),
  // No proxy cache: nginx's value without a cache status (not found).
  upstream_cache_status: () => undefined,
};

export function registerHttpVariables(registry: VariableRegistry): void {
  for (const [name, get] of Object.entries(FIXED)) registry.define(name, get);
  for (const [name, get] of Object.entries(CHANGING)) registry.define(name, get, false);
  registry.defineSetter("limit_rate", setLimitRate);
  registry.definePrefix("http_", (suffix) => ({ get: (r) => joinedHeader(r.headers, suffix), cacheable: true }));
  registry.definePrefix("sent_http_", (suffix) => ({
    get: (r) => joinedHeader(r.responseHeaders, suffix),
    cacheable: false,
  }));
  registry.definePrefix("upstream_http_", (suffix) => ({
    get: (r) => {
      const last = r.upstreamTries[r.upstreamTries.length - 1];
      return last ? joinedHeader(last.responseHeaders, suffix) : undefined;
    },
    cacheable: false,
  }));
  registry.definePrefix("arg_", (suffix) => ({ get: (r) => queryArgument(r.args, suffix), cacheable: false }));
  registry.definePrefix("cookie_", (suffix) => ({ get: (r) => cookie(r.headers, suffix), cacheable: true }));
}

/**
 * The request headers (as variable-style names: lower case, "_" for "-") that
 * the variables in `used` can read. A long-lived request (a tunnel) keeps only
 * these; "host" stays for the error log's `host:` field.
 */
export function requestHeadersRead(used: readonly string[]): ReadonlySet<string> {
  const keep = new Set(["host"]);
  for (const name of used) {
    if (name.startsWith("http_")) keep.add(name.slice(5));
    else if (name.startsWith("cookie_")) keep.add("cookie");
    else if (name === "remote_user") keep.add("authorization");
    else if (name === "content_length" || name === "content_type") keep.add(name);
    else if (name === "proxy_add_x_forwarded_for") keep.add("x_forwarded_for");
  }
  return keep;
}

/** Header names match variable names lower-cased with "-" as "_". */
export function variableName(headerName: string): string {
  return headerName.toLowerCase().replace(/-/g, "_");
}

function joinedHeader(headers: HeaderList, suffix: string): string | undefined {
  const separator = suffix === "cookie" ? "; " : ", ";
  let value: string | undefined;
  for (const [name, v] of headers) {
    if (variableName(name) === suffix) value = value === undefined ? v : value + separator + v;
  }
  return value;
}

function header(headers: HeaderList, lowerName: string): string | undefined {
  return joinedHeader(headers, variableName(lowerName));
}

function perTry(r: VariableSource, field: (t: UpstreamTry) => string): string | undefined {
  if (r.upstreamTries.length === 0) return undefined;
  return r.upstreamTries.map(field).join(", ");
}

function seconds(ms: number): string {
  return ms < 0 ? "-" : (ms / 1000).toFixed(3);
}

/** $arg_NAME: the first NAME=value in the query string, not decoded; a bare NAME without "=" does not count (ngx_http_arg). */
function queryArgument(args: string, name: string): string | undefined {
  for (const pair of args.split("&")) {
    const eq = pair.indexOf("=");
    if (eq !== -1 && pair.slice(0, eq).toLowerCase() === name) return pair.slice(eq + 1);
  }
  return undefined;
}

/**
 * $cookie_NAME: the named cookie of the Cookie header(s), as
 * ngx_http_parse_multi_header_lines(): spaces around "=" skipped, the value
 * runs to ";" (trailing spaces kept); cookies are separated by ";" or ",".
 */
function cookie(headers: HeaderList, name: string): string | undefined {
  const all = joinedHeader(headers, "cookie");
  if (all === undefined) return undefined;
  let i = 0;
  while (i < all.length) {
    if (all.slice(i, i + name.length).toLowerCase() === name) {
      let j = i + name.length;
      while (all[j] === " ") j++;
      if (all[j] === "=") {
        j++;
        while (all[j] === " ") j++;
        const end = all.indexOf(";", j);
        return all.slice(j, end === -1 ? all.length : end);
      }
    }
    while (i < all.length) {
      const ch = all[i++];
      if (ch === ";" || ch === ",") break;
    }
    while (all[i] === " ") i++;
  }
  return undefined;
}

/** $remote_user: the user of a Basic Authorization header; not found otherwise. */
function basicAuthUser(headers: HeaderList): string | undefined {
  const authorization = header(headers, "authorization");
  if (!authorization || !/^basic /i.test(authorization)) return undefined;
  const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("latin1");
  const colon = decoded.indexOf(":");
  // nginx declines an empty user name as it declines a missing ":".
  return colon <= 0 ? undefined : decoded.slice(0, colon);
}

/** ngx_http_variable_set_limit_rate(): a size (ngx_parse_size), else nginx's error line and no change. */
function setLimitRate(r: VariableSource, value: string): string | undefined {
  const match = /^(\d+)([kKmMgG]?)$/.exec(value);
  if (!match) return `invalid $limit_rate "${value}"`;
  const unit = match[2]!.toLowerCase();
  r.limitRate = Number(match[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 * 1024 : unit === "g" ? 1024 ** 3 : 1);
  return undefined;
}
