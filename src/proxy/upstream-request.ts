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

/** How the body goes upstream: as the client framed it, or re-framed for HTTP/1.0. */
export type UpstreamBody =
  { readonly kind: "none" } | { readonly kind: "length"; readonly length: number } | { readonly kind: "chunked" };

type PlanEntry =
  | { readonly name: string; readonly kind: "value"; readonly setting: HeaderSetting }
  | { readonly name: string; readonly kind: "host" | "close" | "length" | "chunked" | "drop" };

interface HeaderPlan {
  readonly entries: readonly PlanEntry[];
  /** Lower-cased names the plan owns: the client's headers of these names are not passed. */
  readonly owned: ReadonlySet<string>;
}

const DEFAULTS: ReadonlyArray<{ name: string; kind: "host" | "close" | "length" | "chunked" | "drop" }> = [
  { name: "Host", kind: "host" },
  { name: "Connection", kind: "close" },
  { name: "Content-Length", kind: "length" },
  { name: "Transfer-Encoding", kind: "chunked" },
  { name: "TE", kind: "drop" },
  { name: "Keep-Alive", kind: "drop" },
  { name: "Expect", kind: "drop" },
  { name: "Upgrade", kind: "drop" },
];

const plans = new WeakMap<LocConf, HeaderPlan>();

/** The plan is made once per location's settings, on first use. */
function planFor(loc: LocConf): HeaderPlan {
  let plan = plans.get(loc);
  if (!plan) {
    const entries: PlanEntry[] = loc.proxySetHeaders.map((setting) => ({
      name: setting.name,
      kind: "value" as const,
      setting,
    }));
    const owned = new Set(entries.map((entry) => entry.name.toLowerCase()));
    for (const entry of DEFAULTS) {
      if (!owned.has(entry.name.toLowerCase())) {
        entries.push(entry);
        owned.add(entry.name.toLowerCase());
      }
    }
    plan = { entries, owned };
    plans.set(loc, plan);
  }
  return plan;
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
  let head = `${method} ${upstreamUri(r, pass, location)} HTTP/${loc.proxyHttpVersion}\r\n`;
  const plan = planFor(loc);
  for (const entry of plan.entries) {
    const value = entryValue(entry, r, pass, body);
    if (value !== "") head += `${entry.name}: ${stripLineBreaks(value)}\r\n`;
  }
  if (loc.proxyPassRequestHeaders) {
    for (const [name, value] of r.headers) {
      if (!plan.owned.has(name.toLowerCase())) head += `${name}: ${value}\r\n`;
    }
  }
  return head + "\r\n";
}

function entryValue(entry: PlanEntry, r: HttpRequest, pass: ProxyPass, body: UpstreamBody): string {
  switch (entry.kind) {
    case "value":
      return entry.setting.value.evaluate(r);
    case "host":
      return pass.proxyHost;
    case "close":
      return "close";
    case "length":
      return body.kind === "length" ? String(body.length) : "";
    case "chunked":
      return body.kind === "chunked" ? "chunked" : "";
    case "drop":
      return "";
  }
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
