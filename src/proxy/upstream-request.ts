/**
 * The request head sent upstream, after ngx_http_proxy_create_request():
 * the request line with proxy_http_version; the proxy_set_header lines of the
 * location in the order written, then nginx's defaults that they did not
 * override (Host $proxy_host, Connection close, the body's framing, and TE,
 * Keep-Alive, Expect, Upgrade removed); then the client's headers, except
 * those the list names. A header whose value comes out empty is not sent.
 */

import type { HeaderSetting, LocConf, LocationConf, ProxyPass } from "../config/model.js";
import type { HttpRequest } from "../http/request.js";
import { escapeUri } from "../http/uri.js";
import { isHeader } from "../core/header-name.js";

/** How the body goes upstream: as the client framed it, or re-framed for HTTP/1.0. */
export type UpstreamBody =
  { readonly kind: "none" } | { readonly kind: "length"; readonly length: number } | { readonly kind: "chunked" };

/**
 * A location's upstream head, compiled once from its settings: whole lines
 * that never change ("Connection: close\r\n", adjacent ones joined), and the
 * lines whose value each request gives (a proxy_set_header with variables,
 * Host, the body's framing), each with its "Name: " ready.
 */
type Piece =
  | string
  | { readonly prefix: string; readonly kind: "value"; readonly setting: HeaderSetting }
  | { readonly prefix: string; readonly kind: "host" | "length" | "chunked" };

interface HeadTemplate {
  /** " HTTP/1.1\r\n": what follows the request line's URI. */
  readonly versionLine: string;
  readonly pieces: readonly Piece[];
  /** Lower-cased names the template owns: the client's headers of these names are not passed. */
  readonly owned: readonly string[];
}

type DefaultKind = "host" | "close" | "length" | "chunked" | "drop";

const DEFAULTS: ReadonlyArray<{ name: string; kind: DefaultKind }> = [
  { name: "Host", kind: "host" },
  { name: "Connection", kind: "close" },
  { name: "Content-Length", kind: "length" },
  { name: "Transfer-Encoding", kind: "chunked" },
  { name: "TE", kind: "drop" },
  { name: "Keep-Alive", kind: "drop" },
  { name: "Expect", kind: "drop" },
  { name: "Upgrade", kind: "drop" },
];

const templates = new WeakMap<LocConf, HeadTemplate>();

/** The template is made once per location's settings, on first use. */
function templateFor(loc: LocConf): HeadTemplate {
  let template = templates.get(loc);
  if (!template) {
    template = compileTemplate(loc);
    templates.set(loc, template);
  }
  return template;
}

function compileTemplate(loc: LocConf): HeadTemplate {
  const pieces: Piece[] = [];
  const add = (piece: Piece): void => {
    const last = pieces[pieces.length - 1];
    if (typeof piece === "string" && typeof last === "string") pieces[pieces.length - 1] = last + piece;
    else pieces.push(piece);
  };
  const owned = new Set<string>();
  for (const setting of loc.proxySetHeaders) {
    owned.add(setting.name.toLowerCase());
    const constant = setting.value.constant;
    const prefix = `${setting.name}: `;
    if (constant === undefined) add({ prefix, kind: "value", setting });
    else if (constant !== "") add(`${prefix}${stripLineBreaks(constant)}\r\n`);
  }
  for (const { name, kind } of DEFAULTS) {
    if (owned.has(name.toLowerCase())) continue;
    owned.add(name.toLowerCase());
    if (kind === "close") add(`${name}: close\r\n`);
    else if (kind !== "drop") add({ prefix: `${name}: `, kind });
  }
  return { versionLine: ` HTTP/${loc.proxyHttpVersion}\r\n`, pieces, owned: [...owned] };
}

/** The method each request's upstream request was sent with, where proxy_method changed it. */
const sentMethods = new WeakMap<HttpRequest, string>();

/** The method the upstream was asked with: its response is read as an answer to it (ctx->head). */
export function upstreamMethod(r: HttpRequest): string {
  return sentMethods.get(r) ?? r.method;
}

export function buildUpstreamHead(r: HttpRequest, pass: ProxyPass, location: LocationConf, body: UpstreamBody): string {
  const loc = location.loc;
  // proxy_method, evaluated for this request; else the client's method.
  const method = loc.proxyMethod ? loc.proxyMethod.evaluate(r) : r.method;
  if (loc.proxyMethod) sentMethods.set(r, method);
  const template = templateFor(loc);
  let head = method + " " + upstreamUri(r, pass, location) + template.versionLine;
  for (const piece of template.pieces) {
    if (typeof piece === "string") {
      head += piece;
      continue;
    }
    const value = pieceValue(piece, r, pass, body);
    if (value !== "") head += piece.prefix + stripLineBreaks(value) + "\r\n";
  }
  if (loc.proxyPassRequestHeaders) {
    for (const [name, value] of r.headers) {
      if (!owns(template.owned, name)) head += name + ": " + value + "\r\n";
    }
  }
  return head + "\r\n";
}

function pieceValue(piece: Exclude<Piece, string>, r: HttpRequest, pass: ProxyPass, body: UpstreamBody): string {
  switch (piece.kind) {
    case "value":
      return piece.setting.value.evaluate(r);
    case "host":
      return pass.proxyHost;
    case "length":
      return body.kind === "length" ? String(body.length) : "";
    case "chunked":
      return body.kind === "chunked" ? "chunked" : "";
  }
}

/** Whether `name` is one of the lower-cased `owned` (compared without a lower-cased copy per header). */
function owns(owned: readonly string[], name: string): boolean {
  for (const lower of owned) if (isHeader(name, lower)) return true;
  return false;
}

/**
 * $proxy_port, as ngx_http_proxy_set_vars(): the URL's port, or the scheme's
 * default ("80", "443") when none is written; empty for a unix-domain socket.
 * Read from $proxy_host, which names the port whenever it is not the default.
 */
export function proxyPortOf(pass: ProxyPass): string {
  if (pass.upstream.startsWith("unix:")) return "";
  const port = /\]?:(\d+)$/.exec(pass.proxyHost);
  if (port && (!pass.proxyHost.includes("[") || pass.proxyHost.lastIndexOf("]") < port.index + 1)) return port[1]!;
  return pass.scheme === "https" ? "443" : "80";
}

/** A value from a variable may hold CR or LF; they must never split a header on the wire. */
function stripLineBreaks(value: string): string {
  return /[\r\n]/.test(value) ? value.replace(/[\r\n]/g, " ") : value;
}

/**
 * proxy_pass without a URI passes the client's URI as sent; with one, the
 * part matching the location is replaced by it, in the normalised URI. A URI
 * changed by rewrite or error_page goes escaped, with its new arguments; after
 * `rewrite … break` the whole new URI goes, without proxy_pass's URI part.
 * With variables, a URI part is sent as it is (arguments included only if written).
 */
export function upstreamUri(r: HttpRequest, pass: ProxyPass, location: LocationConf): string {
  if (pass.uri === undefined && r.validUnparsedUri) return r.unparsedUri;
  if (pass.wholeUri && pass.uri !== undefined) return pass.uri;
  const matched =
    pass.uri !== undefined &&
    r.validLocation &&
    (location.modifier === "" || location.modifier === "^~" || location.modifier === "=")
      ? location.path.length
      : 0;
  const rest = r.uri.slice(Math.min(matched, r.uri.length));
  // nginx escapes it only when the client's path held an escape (r->quoted_uri) or wsgate changed it (r->internal).
  const question = r.unparsedUri.indexOf("?");
  const quoted = r.internal || (question === -1 ? r.unparsedUri : r.unparsedUri.slice(0, question)).includes("%");
  const prefix = r.validLocation ? (pass.uri ?? "") : "";
  const path = prefix + (quoted ? escapeUri(rest) : rest);
  return r.args !== "" ? `${path}?${r.args}` : path;
}
