/**
 * ngx_http_proxy_module's directives that wsgate implements.
 */

import type { LocConf, ProxyPass } from "../model.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_ALL_WITH_IF, placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, parseFlag, parseTimeMs, setOnce, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";

export const PROXY_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "proxy_pass",
    contexts: ["location", "if-in-location", "limit_except"],
    args: [1],
    handle: (scope, node) => {
      const location = scope.location!;
      if (location.proxyPass) throw directiveError(node, "is duplicate");
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
      scope.http!.implicitUpstreams.push({ name: pass.upstream, place: pass.place });
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
      const headers = (scope.loc!.proxySetHeaders ??= []) as LocConf["proxySetHeaders"][number][];
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
];

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

/** `http://name[:port][/uri]` after ngx_http_proxy_pass() and ngx_parse_url(). */
function parseProxyPass(node: DirectiveNode): ProxyPass {
  const url = node.args[0]!;
  const scheme =
    url.slice(0, 7).toLowerCase() === "http://"
      ? "http"
      : url.slice(0, 8).toLowerCase() === "https://"
        ? "https"
        : undefined;
  if (!scheme) throw valueError(node, `invalid URL prefix in "${url}"`);
  if (url.includes("$")) throw valueError(node, `variables in "proxy_pass" are not supported by wsgate yet`);
  if (scheme === "https") throw valueError(node, `"proxy_pass https://" is not supported by wsgate yet`);
  const rest = url.slice(scheme.length + 3);
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const uri = slash === -1 ? undefined : rest.slice(slash);
  if (authority === "") throw valueError(node, `no host in "${url}" of the "proxy_pass" directive`);
  if (authority.startsWith("unix:"))
    throw valueError(node, `unix domain sockets in "proxy_pass" are not supported by wsgate yet`);
  const { host, port } = splitHostPort(node, url, authority);
  const proxyHost = port === undefined || port === 80 ? host : `${host}:${port}`;
  // Upstream names are matched without regard to case; $proxy_host keeps the case written.
  const upstream = (port === undefined ? host : `${host}:${port}`).toLowerCase();
  return {
    scheme,
    upstream,
    proxyHost,
    uri,
    url,
    place: placeOf(node),
  };
}

export function splitHostPort(
  node: DirectiveNode,
  url: string,
  authority: string,
): { host: string; port: number | undefined } {
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
    throw valueError(node, `invalid port in upstream "${url.replace(/^https?:\/\//i, "")}"`);
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
  return {
    name,
    contexts: HTTP_ALL_WITH_IF.filter((context) => context !== "if-in-location"),
    args: "flag",
    handle: (scope, node) => setOnce(scope.loc!, key, parseFlag(node, node.args[0]!), node),
  };
}
