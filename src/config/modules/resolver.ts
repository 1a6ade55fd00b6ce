/**
 * `resolver` and `resolver_timeout` (ngx_http_core_module, and in `upstream`
 * as nginx 1.27.3+ has them), and the upstream `zone` directive.
 *
 * The resolver's arguments are read as ngx_resolver_create() reads them: each
 * is `valid=`, `ipv4=`, `ipv6=` or a name server's address (port 53 unless
 * written); a name server given by host name is looked up when loading
 * finishes (finalize.ts), as nginx does with getaddrinfo().
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { locationLevels, type HttpBuild } from "../build-scope.js";
import { ConfigError, type SourcePlace } from "../../core/errors.js";
import { addSharedZone } from "./shared-zones.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, parseSize, parseTimeMs, setOnce, valueError } from "../values.js";

/** resolver_timeout's default (ngx_http_core_merge_loc_conf). */
const RESOLVER_TIMEOUT_MS = 30_000;

/** nginx's 8 * ngx_pagesize: the smallest shared memory zone. */
const MIN_ZONE_SIZE = 8 * 4096;

export interface ResolverLocConf {
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

const RESOLVER_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "resolver",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => setOnce(scope.loc!, "resolver", parseResolver(node), node),
  },
  {
    name: "resolver_timeout",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, "resolverTimeoutMs", parseTimeMs(node, node.args[0]!), node),
  },
  {
    name: "resolver",
    contexts: ["upstream"],
    args: "1more",
    handle: (scope, node) => {
      const upstream = scope.upstream!;
      if (upstream.resolver) throw directiveError(node, "is duplicate");
      upstream.resolver = parseResolver(node);
    },
  },
  {
    name: "resolver_timeout",
    contexts: ["upstream"],
    args: [1],
    handle: (scope, node) => {
      const upstream = scope.upstream!;
      if (upstream.resolverTimeoutMs !== undefined) throw directiveError(node, "is duplicate");
      upstream.resolverTimeoutMs = parseTimeMs(node, node.args[0]!);
    },
  },
  {
    name: "zone",
    contexts: ["upstream"],
    args: [1, 2],
    handle: (scope, node) => {
      const [name, sizeText] = node.args as [string, string | undefined];
      if (name === "") throw valueError(node, `invalid zone name "${name}"`);
      let size = 0;
      if (sizeText !== undefined) {
        try {
          size = parseSize(node, sizeText);
        } catch {
          throw valueError(node, `invalid zone size "${sizeText}"`);
        }
        if (size < MIN_ZONE_SIZE) throw valueError(node, `zone "${name}" is too small`);
      }
      // ngx_shared_memory_add(): groups may share a zone; a size given twice must be the same; a name
      // another use (limit_conn_zone …) declared is refused; one never given a size is "zero size".
      addSharedZone(scope, node, name, size, "upstream");
      scope.upstream!.zone = { name, size };
    },
  },
];

export const RESOLVER_MODULE: ConfModule<ResolverLocConf> = {
  name: "resolver",
  directives: RESOLVER_DIRECTIVES,
  createLoc: () => ({ resolver: undefined, resolverTimeoutMs: RESOLVER_TIMEOUT_MS }),
};

/** ngx_resolver_create()'s reading of the arguments, with its refusals. */
export function parseResolver(node: DirectiveNode): ResolverConf {
  const servers: Array<{ host: string; port: number }> = [];
  let validMs: number | undefined;
  let ipv4 = true;
  let ipv6 = true;
  for (const arg of node.args) {
    if (arg.startsWith("valid=")) {
      // ngx_parse_time(, 1): seconds and larger units only.
      const value = arg.slice(6);
      try {
        if (value === "" || /ms/.test(value)) throw new Error();
        validMs = parseTimeMs(node, value);
      } catch {
        throw valueError(node, `invalid parameter: ${arg}`);
      }
      continue;
    }
    if (arg.startsWith("ipv4=") || arg.startsWith("ipv6=")) {
      const value = arg.slice(5);
      if (value !== "on" && value !== "off") throw valueError(node, `invalid parameter: ${arg}`);
      if (arg.startsWith("ipv4=")) ipv4 = value === "on";
      else ipv6 = value === "on";
      continue;
    }
    if (arg.startsWith("status_zone=")) {
      throw valueError(node, `the "status_zone" parameter of "resolver" is not supported by wsgate`);
    }
    servers.push(parseNameServer(node, arg));
  }
  if (!ipv4 && !ipv6) throw valueError(node, `"ipv4" and "ipv6" cannot both be "off"`);
  if (servers.length === 0) throw valueError(node, "no name servers defined");
  return { servers, validMs, ipv4, ipv6, place: placeOf(node) };
}

/** A name server's "host[:port]" / "[v6][:port]" (ngx_parse_url with default port 53). */
function parseNameServer(node: DirectiveNode, text: string): { host: string; port: number } {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) throw valueError(node, `invalid host in resolver "${text}"`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw valueError(node, `invalid host in resolver "${text}"`);
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) throw valueError(node, `invalid IPv6 address in resolver "${text}"`);
  } else if (isIP(text) !== 6) {
    const colon = text.lastIndexOf(":");
    if (colon !== -1) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  let port = 53;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) throw valueError(node, `invalid port in resolver "${text}"`);
  }
  if (host === "") throw valueError(node, `no host in resolver "${text}"`);
  return { host, port };
}

/**
 * A `server NAME resolve` line's host and port when the name is a host name
 * (an address or a unix socket with `resolve` is simply static, as in nginx).
 */
export function runtimeName(name: string): { host: string; port: number } | undefined {
  if (name.startsWith("unix:") || name.startsWith("[")) return undefined;
  const colon = name.lastIndexOf(":");
  const host = colon === -1 ? name : name.slice(0, colon);
  if (isIP(host) || isIP(name)) return undefined;
  return { host, port: colon === -1 ? 80 : Number(name.slice(colon + 1)) };
}

/** Every resolver written in the http block (its levels and its upstreams), to look up name servers given by name. */
export async function lookUpNameServers(http: HttpBuild): Promise<void> {
  const fix = async (resolver: ResolverConf | undefined): Promise<ResolverConf | undefined> => {
    if (!resolver || resolver.servers.every((server) => isIP(server.host))) return resolver;
    const servers: Array<{ host: string; port: number }> = [];
    for (const server of resolver.servers) {
      if (isIP(server.host)) {
        servers.push(server);
        continue;
      }
      try {
        const found = await lookup(server.host, { all: true });
        for (const entry of found) servers.push({ host: entry.address, port: server.port });
      } catch {
        const text = server.port === 53 ? server.host : `${server.host}:${server.port}`;
        throw new ConfigError("host-not-found", `host not found in resolver "${text}"`, resolver.place);
      }
    }
    return { ...resolver, servers };
  };
  const levels = locationLevels(http);
  for (const loc of levels) {
    if (loc.resolver) loc.resolver = await fix(loc.resolver);
  }
  for (const upstream of http.upstreams.values()) {
    if (upstream.resolver) upstream.resolver = await fix(upstream.resolver);
  }
}

/**
 * ngx_http_upstream_init_round_robin() (1.27.3+): a group with `resolve`
 * servers must be in a zone and have a resolver, its own or the http
 * block's; the group takes the http block's resolver_timeout unless it has one.
 */
export function checkResolvableUpstreams(http: HttpBuild): void {
  for (const upstream of http.upstreams.values()) {
    if (upstream.implicit) continue;
    const resolvable = upstream.servers.some((server) => server.resolve && runtimeName(server.name));
    if (upstream.zone) {
      upstream.resolver ??= http.loc.resolver;
      upstream.resolverTimeoutMs ??= http.loc.resolverTimeoutMs ?? RESOLVER_TIMEOUT_MS;
      if (resolvable && !upstream.resolver) {
        const message = `no resolver defined to resolve names at run time in upstream "${upstream.name}"`;
        throw new ConfigError("invalid-value", message, upstream.place);
      }
    } else if (resolvable) {
      const message = `resolving names at run time requires upstream "${upstream.name}" in ${upstream.place.file}:${upstream.place.line} to be in shared memory`;
      throw new ConfigError("invalid-value", message, undefined);
    }
  }
}
