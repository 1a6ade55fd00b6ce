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
import { isIPv4, isIPv6 } from "node:net";
import { NGINX_VERSION } from "../version.js";
import type { VariableRegistry } from "./registry.js";
import type { HeaderList, UpstreamTry, VariableSource } from "./source.js";
import { formatIso8601, formatLocalTime, formatMsec } from "./time.js";
import { portText, registerRealipVariables } from "./realip-variables.js";
import { registerSslVariables } from "./ssl-variables.js";
import { registerJwtVariables } from "./jwt-variables.js";
import { registerWsgateVariables } from "./wsgate-variables.js";
import { gzipRatio } from "./gzip-ratio.js";
import { parseSizeValue } from "../core/sizes.js";

type Getter = (r: VariableSource) => string | undefined;

const FIXED: Record<string, Getter> = {
  remote_addr: (r) => r.remoteAddress,
  // A port 0 (an address realip took from a header without one) is empty, as nginx prints it.
  remote_port: (r) => portText(r.remotePort),
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
  // ngx_http_v2_module's: found and empty on an HTTP/1.x request.
  http2: (r) => r.http2Protocol ?? "",
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
  binary_remote_addr: (r) => binaryAddress(r.remoteAddress),
  pipe: (r) => (r.pipelined ? "p" : "."),
  proxy_port: (r) => r.proxyPort,
  // Only a body read into memory; one in a file is $request_body_file's (ngx_http_variable_request_body).
  request_body: (r) => {
    const body = r.requestBody;
    return body?.memory && body.file === undefined ? Buffer.concat(body.memory).toString("latin1") : undefined;
  },
  request_body_file: (r) => r.requestBody?.file,
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
  // ngx_http_limit_conn_module's and ngx_http_limit_req_module's (NGX_HTTP_VAR_NOCACHEABLE).
  limit_conn_status: (r) => r.limitConnStatus,
  limit_req_status: (r) => r.limitReqStatus,
  // No proxy cache: nginx's value without a cache status (not found).
  upstream_cache_status: () => undefined,
  upstream_response_length: (r) => perTry(r, (t) => String(t.responseLength ?? 0)),
  connection_time: (r) => seconds(Math.max(0, Date.now() - (r.connectionStartMs ?? r.startMs))),
  // r->request_complete: set when the request was finalized, not when it was terminated (444, 408, 499).
  request_completion: (r) => (r.status === 444 || r.status === 408 || r.status === 499 ? "" : "OK"),
  // nginx reads TCP_INFO with getsockopt(); Node cannot, so these are what nginx gives when it fails: not found.
  tcpinfo_rtt: () => undefined,
  tcpinfo_rttvar: () => undefined,
  tcpinfo_snd_cwnd: () => undefined,
  tcpinfo_rcv_space: () => undefined,
  // ngx_http_stub_status_module's counters (not found where the HTTP layer gives none).
  connections_active: (r) => counter(r, "active"),
  connections_reading: (r) => counter(r, "reading"),
  connections_writing: (r) => counter(r, "writing"),
  connections_waiting: (r) => counter(r, "waiting"),
  gzip_ratio: (r) => gzipRatio(r.gzipCounts),
};

export function registerHttpVariables(registry: VariableRegistry): void {
  for (const [name, get] of Object.entries(FIXED)) registry.define(name, get);
  for (const [name, get] of Object.entries(CHANGING)) registry.define(name, get, false);
  registerRealipVariables(registry);
  registerJwtVariables(registry);
  registry.defineSetter("limit_rate", setLimitRate);
  registry.defineSetter("args", (r, value) => void r.changeArgs?.(value));
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
  registry.definePrefix("upstream_cookie_", (suffix) => ({
    get: (r) => {
      const last = r.upstreamTries[r.upstreamTries.length - 1];
      return last ? setCookieValue(last.responseHeaders, suffix) : undefined;
    },
    cacheable: false,
  }));
  registry.definePrefix("upstream_trailer_", (suffix) => ({
    get: (r) => {
      const last = r.upstreamTries[r.upstreamTries.length - 1];
      return last?.responseTrailers ? joinedHeader(last.responseTrailers, suffix) : undefined;
    },
    cacheable: false,
  }));
  // wsgate adds no trailers of its own (nginx's come from add_trailer): never found.
  registry.definePrefix("sent_trailer_", () => ({ get: () => undefined, cacheable: false }));
  registry.definePrefix("arg_", (suffix) => ({ get: (r) => queryArgument(r.args, suffix), cacheable: false }));
  registry.definePrefix("cookie_", (suffix) => ({ get: (r) => cookie(r.headers, suffix), cacheable: true }));
  registerSslVariables(registry);
  registerWsgateVariables(registry);
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

/** variableName(headerName) === name, without making the string: it runs for every header a variable looks at. */
export function isHeaderOfVariable(headerName: string, name: string): boolean {
  if (headerName.length !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = headerName.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    else if (c === 0x2d) c = 0x5f;
    if (c !== name.charCodeAt(i)) {
      // A character outside ASCII lower-cases as toLowerCase() does it.
      if (c < 0x80) return false;
      return variableName(headerName) === name;
    }
  }
  return true;
}

function joinedHeader(headers: HeaderList, suffix: string): string | undefined {
  const separator = suffix === "cookie" ? "; " : ", ";
  let value: string | undefined;
  for (const [name, v] of headers) {
    if (isHeaderOfVariable(name, suffix)) value = value === undefined ? v : value + separator + v;
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

function counter(r: VariableSource, which: "active" | "reading" | "writing" | "waiting"): string | undefined {
  const stats = r.connectionStats?.();
  return stats ? String(stats[which]) : undefined;
}

/**
 * $binary_remote_addr: the address's 4 (IPv4) or 16 (IPv6) bytes, as a byte
 * string; a unix-domain client's address text as it is.
 */
export function binaryAddress(address: string): string {
  if (isIPv4(address)) return Buffer.from(address.split(".").map(Number)).toString("latin1");
  if (!isIPv6(address)) return address;
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const left = ipv6Bytes(head!);
  const right = tail === undefined ? [] : ipv6Bytes(tail);
  const zeros = new Array<number>(16 - left.length - right.length).fill(0);
  return Buffer.from([...left, ...zeros, ...right]).toString("latin1");
}

/** The bytes of colon-separated IPv6 groups, a dotted IPv4 tail included. */
function ipv6Bytes(part: string): number[] {
  const bytes: number[] = [];
  for (const group of part === "" ? [] : part.split(":")) {
    if (group.includes(".")) bytes.push(...group.split(".").map(Number));
    else {
      const value = parseInt(group, 16);
      bytes.push(value >> 8, value & 0xff);
    }
  }
  return bytes;
}

/**
 * $upstream_cookie_NAME, as ngx_http_parse_set_cookie_lines(): the first
 * Set-Cookie line that starts with NAME (any case), then "=", gives the value
 * up to ";"; spaces around "=" skipped.
 */
function setCookieValue(headers: HeaderList, name: string): string | undefined {
  for (const [header, value] of headers) {
    if (header.toLowerCase() !== "set-cookie" || name.length >= value.length) continue;
    if (value.slice(0, name.length).toLowerCase() !== name) continue;
    let at = name.length;
    while (value[at] === " ") at++;
    if (value[at] !== "=") continue;
    at++;
    while (value[at] === " ") at++;
    const end = value.indexOf(";", at);
    return value.slice(at, end === -1 ? value.length : end);
  }
  return undefined;
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
  const size = parseSizeValue(value);
  if (size === undefined) return `invalid $limit_rate "${value}"`;
  r.limitRate = size;
  return undefined;
}
