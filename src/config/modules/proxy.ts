/**
 * ngx_http_proxy_module's directives that wsgate implements.
 */

import type { SourcePlace } from "../../core/errors.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_ALL_WITH_IF, placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, locFlag, parseNumber, parseTimeMs, setOnce, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import type { VariableRegistry } from "../../vars/registry.js";

/** ngx_http_proxy_module's per-location settings of the request to the upstream and of retries. */
export interface ProxyLocConf {
  proxyHttpVersion: "1.0" | "1.1";
  /** proxy_set_header lines of the nearest level that has any. */
  proxySetHeaders: readonly HeaderSetting[];
  proxyConnectTimeoutMs: number;
  proxyReadTimeoutMs: number;
  proxySendTimeoutMs: number;
  proxyPassRequestHeaders: boolean;
  proxyPassRequestBody: boolean;
  proxyHideHeaders: readonly string[];
  proxyPassHeaders: readonly string[];
  /** proxy_next_upstream (default error timeout); empty for `off`. */
  proxyNextUpstream: ReadonlySet<NextUpstreamCondition>;
  /** proxy_next_upstream_tries; 0 = no limit. */
  proxyNextUpstreamTries: number;
  /** proxy_next_upstream_timeout; 0 = no limit. */
  proxyNextUpstreamTimeoutMs: number;
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
  /**
   * https:// without a port: `upstream` is "host:443", the implicit group's
   * address, while a group named "host" still matches (its servers have ports).
   */
  readonly impliedPort?: boolean;
  /** The URL as written ("http://b:8010/x/"): proxy_redirect default's pattern. */
  readonly url: string;
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

const PROXY_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "proxy_pass",
    contexts: ["location", "if-in-location", "limit_except"],
    args: [1],
    handle: (scope, node) => {
      const location = scope.location!;
      if (location.proxyPass) throw directiveError(node, "is duplicate");
      if (node.args[0]!.includes("$")) {
        location.proxyPass = dynamicProxyPass(node, scope.http!.registry);
        return;
      }
      const pass = parseProxyPass(node);
      if (
        pass.uri !== undefined &&
        (location.modifier === "~" || location.modifier === "~*" || location.modifier === "@" || location.noname)
      ) {
        throw valueError(
          node,
          `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`,
        );
      }
      location.proxyPass = pass;
      scope.http!.implicitUpstreams.push({
        name: pass.upstream,
        place: pass.place,
        ...(pass.impliedPort ? { impliedPort: true } : {}),
      });
    },
  },
  {
    name: "proxy_http_version",
    contexts: HTTP_ALL_WITH_IF,
    args: [1],
    handle: (scope, node) => {
      const value = node.args[0]!;
      if (value !== "1.0" && value !== "1.1") throw valueError(node, `invalid value "${value}"`);
      setOnce(scope.loc!, "proxyHttpVersion", value, node);
    },
  },
  {
    name: "proxy_set_header",
    contexts: HTTP_ALL_WITH_IF,
    args: [2],
    handle: (scope, node) => {
      const [name, value] = node.args as [string, string];
      const registry = scope.http!.registry;
      const headers = (scope.loc!.proxySetHeaders ??= []) as HeaderSetting[];
      headers.push({ name, value: ComplexValue.compile(value, registry, placeOf(node)) });
    },
  },
  proxyTime("proxy_connect_timeout", "proxyConnectTimeoutMs"),
  proxyTime("proxy_read_timeout", "proxyReadTimeoutMs"),
  proxyTime("proxy_send_timeout", "proxySendTimeoutMs"),
  proxyFlag("proxy_pass_request_headers", "proxyPassRequestHeaders"),
  proxyFlag("proxy_pass_request_body", "proxyPassRequestBody"),
  headerList("proxy_hide_header", "proxyHideHeaders"),
  headerList("proxy_pass_header", "proxyPassHeaders"),
  {
    // ngx_conf_set_bitmask_slot: lines at one level add up; `off` wins over the rest.
    name: "proxy_next_upstream",
    contexts: ["http", "server", "location"],
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      const conditions = new Set<NextUpstreamCondition>(loc.proxyNextUpstream ?? []);
      for (const value of node.args) {
        if (!NEXT_UPSTREAM_CONDITIONS.has(value)) throw valueError(node, `invalid value "${value}"`);
        conditions.add(value as NextUpstreamCondition);
      }
      loc.proxyNextUpstream = conditions.has("off") ? new Set(["off"]) : conditions;
    },
  },
  {
    name: "proxy_next_upstream_tries",
    contexts: ["http", "server", "location"],
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, "proxyNextUpstreamTries", parseNumber(node, node.args[0]!), node),
  },
  {
    name: "proxy_next_upstream_timeout",
    contexts: ["http", "server", "location"],
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, "proxyNextUpstreamTimeoutMs", parseTimeMs(node, node.args[0]!), node),
  },
];

export const PROXY_MODULE: ConfModule<ProxyLocConf> = {
  name: "ngx_http_proxy_module",
  directives: PROXY_DIRECTIVES,
  createLoc: () => ({
    proxyHttpVersion: "1.0",
    proxySetHeaders: [],
    proxyConnectTimeoutMs: 60_000,
    proxyReadTimeoutMs: 60_000,
    proxySendTimeoutMs: 60_000,
    proxyPassRequestHeaders: true,
    proxyPassRequestBody: true,
    proxyHideHeaders: [],
    proxyPassHeaders: [],
    proxyNextUpstream: new Set(["error", "timeout"]),
    proxyNextUpstreamTries: 0,
    proxyNextUpstreamTimeoutMs: 0,
  }),
};

const NEXT_UPSTREAM_CONDITIONS: ReadonlySet<string> = new Set([
  "error",
  "timeout",
  "invalid_header",
  "http_500",
  "http_502",
  "http_503",
  "http_504",
  "http_403",
  "http_404",
  "http_429",
  "non_idempotent",
  "updating",
  "off",
]);

/** A directive whose lines at one level add up to a list of header names. */
function headerList(name: string, key: "proxyHideHeaders" | "proxyPassHeaders"): DirectiveSpec {
  return {
    name,
    contexts: HTTP_ALL_WITH_IF,
    args: [1],
    handle: (scope, node) => {
      const list = (scope.loc![key] ??= []) as string[];
      list.push(node.args[0]!.toLowerCase());
    },
  };
}

/** `http://name[:port][/uri]` or `http://unix:/path[:/uri]`, after ngx_http_proxy_pass() and ngx_parse_url(). */
function parseProxyPass(node: DirectiveNode): ProxyPass {
  const url = node.args[0]!;
  const parsed = splitProxyUrl(url);
  if (typeof parsed === "string") throw valueError(node, parsed);
  if (parsed.kind === "unix") return { ...parsed, url, place: placeOf(node) };
  const hostPort = splitHostPort(url, parsed.authority);
  if (typeof hostPort === "string") throw valueError(node, hostPort);
  const { host, port } = hostPort;
  return { ...inetTarget(parsed.scheme, host, port, parsed.uri), url, place: placeOf(node) };
}

/** `proxy_pass` with variables: compiled now, taken apart per request (nginx checks nothing else here either). */
function dynamicProxyPass(node: DirectiveNode, registry: VariableRegistry): ProxyPass {
  const dynamic = ComplexValue.compile(node.args[0]!, registry, placeOf(node));
  return {
    scheme: "http",
    upstream: "",
    proxyHost: "",
    uri: undefined,
    url: node.args[0]!,
    dynamic,
    wholeUri: true,
    place: placeOf(node),
  };
}

type ProxyUrl =
  | { kind: "inet"; scheme: "http" | "https"; authority: string; uri: string | undefined }
  | { kind: "unix"; scheme: "http" | "https"; upstream: string; proxyHost: string; uri: string | undefined };

/** A proxy_pass URL taken apart, or nginx's complaint about it. Shared with the per-request evaluation. */
export function splitProxyUrl(url: string): ProxyUrl | string {
  const scheme =
    url.slice(0, 7).toLowerCase() === "http://"
      ? "http"
      : url.slice(0, 8).toLowerCase() === "https://"
        ? "https"
        : undefined;
  if (!scheme) return `invalid URL prefix in "${url}"`;
  const rest = url.slice(scheme.length + 3);
  if (rest.slice(0, 5).toLowerCase() === "unix:") {
    // ngx_parse_unix_domain_url(): the path runs to a ":" (then the URI), and $proxy_host is "localhost".
    const colon = rest.indexOf(":", 5);
    const path = colon === -1 ? rest.slice(5) : rest.slice(5, colon);
    if (path === "") return `no path in the unix domain socket in "${url}"`;
    const uri = colon === -1 ? undefined : rest.slice(colon + 1);
    return { kind: "unix", scheme, upstream: `unix:${path}`, proxyHost: "localhost", uri };
  }
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  if (authority === "") return `no host in "${url}" of the "proxy_pass" directive`;
  return { kind: "inet", scheme, authority, uri: slash === -1 ? undefined : rest.slice(slash) };
}

/**
 * The group name and $proxy_host of `host[:port]` (ngx_http_proxy_set_vars():
 * the scheme's default port, 80 or 443, is left out of $proxy_host).
 */
export function inetTarget(
  scheme: "http" | "https",
  host: string,
  port: number | undefined,
  uri: string | undefined,
): Omit<ProxyPass, "place" | "url"> {
  const defaultPort = scheme === "https" ? 443 : 80;
  const proxyHost = port === undefined || port === defaultPort ? host : `${host}:${port}`;
  // Upstream names are matched without regard to case; $proxy_host keeps the case written.
  if (port === undefined && scheme === "https") {
    return { scheme, upstream: `${host}:443`.toLowerCase(), proxyHost, uri, impliedPort: true };
  }
  const upstream = (port === undefined ? host : `${host}:${port}`).toLowerCase();
  return { scheme, upstream, proxyHost, uri };
}

/** The group a proxy_pass names: its own name, or the named upstream its implied port was added to. */
export function namedGroup<G>(groups: ReadonlyMap<string, G>, pass: ProxyPass): G | undefined {
  const group = groups.get(pass.upstream);
  if (group || !pass.impliedPort) return group;
  return groups.get(pass.upstream.slice(0, -4));
}

/** `host[:port]` (IPv6 in brackets), or nginx's complaint about the port. */
export function splitHostPort(url: string, authority: string): { host: string; port: number | undefined } | string {
  let host = authority;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    host = authority.slice(0, close + 1);
    portText = authority.slice(close + 1).replace(/^:/, "") || undefined;
  } else if (authority.includes(":")) {
    const colon = authority.lastIndexOf(":");
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
  }
  if (portText === undefined) return { host, port: undefined };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    return `invalid port in upstream "${url.replace(/^https?:\/\//i, "")}"`;
  }
  return { host, port };
}

function proxyTime(
  name: string,
  key: "proxyConnectTimeoutMs" | "proxyReadTimeoutMs" | "proxySendTimeoutMs",
): DirectiveSpec {
  return {
    name,
    contexts: HTTP_ALL_WITH_IF.filter((context) => context !== "if-in-location"),
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, key, parseTimeMs(node, node.args[0]!), node),
  };
}

function proxyFlag(name: string, key: "proxyPassRequestHeaders" | "proxyPassRequestBody"): DirectiveSpec {
  return locFlag(
    name,
    key,
    HTTP_ALL_WITH_IF.filter((context) => context !== "if-in-location"),
  );
}
