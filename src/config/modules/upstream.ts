/**
 * ngx_http_upstream_module's `upstream` block and its `server` lines.
 * Addresses are checked here and resolved (hostnames) when loading finishes.
 */

import type { SourcePlace } from "../../core/errors.js";
import type { ConfModule } from "../module.js";
import type { ResolverConf } from "./resolver.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, parseNumber, parseTimeMs, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { HEALTH_CHECK_DIRECTIVES, type HealthCheckConf } from "./health-check.js";

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

const UPSTREAM_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "upstream",
    contexts: ["http"],
    args: [1],
    block: true,
    handle: (scope, node, walk) => {
      const name = node.args[0]!.toLowerCase();
      const http = scope.http!;
      if (http.upstreams.has(name)) throw valueError(node, `duplicate upstream "${node.args[0]!}"`);
      const upstream: UpstreamConf = { name, servers: [], implicit: false, place: placeOf(node) };
      http.upstreams.set(name, upstream);
      walk(node.block!, { ...scope, context: "upstream", upstream, loc: undefined, srv: undefined });
      if (upstream.servers.length === 0) throw valueError(node, `no servers are inside upstream`);
      // ngx_http_upstream_init_round_robin(): backups alone are not enough.
      if (upstream.servers.every((server) => server.backup)) {
        throw valueError(node, `no servers in upstream "${node.args[0]!}"`);
      }
    },
  },
  {
    name: "server",
    contexts: ["upstream"],
    args: "1more",
    handle: (scope, node) => scope.upstream!.servers.push(parseUpstreamServer(node, scope.upstream!)),
  },
  {
    name: "least_conn",
    contexts: ["upstream"],
    args: [0],
    handle: (scope) => void (scope.upstream!.balancing = { kind: "least-conn" }),
  },
  {
    name: "ip_hash",
    contexts: ["upstream"],
    args: [0],
    handle: (scope) => void (scope.upstream!.balancing = { kind: "ip-hash" }),
  },
  {
    name: "hash",
    contexts: ["upstream"],
    args: [1, 2],
    handle: (scope, node) => {
      const key = ComplexValue.compile(node.args[0]!, scope.http!.registry, placeOf(node));
      const option = node.args[1];
      if (option !== undefined && option !== "consistent") throw valueError(node, `invalid parameter "${option}"`);
      scope.upstream!.balancing = { kind: "hash", key, consistent: option === "consistent" };
    },
  },
  {
    name: "keepalive",
    contexts: ["upstream"],
    args: [1],
    handle: (scope, node) => {
      const upstream = scope.upstream!;
      const value = node.args[0]!;
      if (upstream.keepalive) throw directiveError(node, "is duplicate");
      if (!/^\d+$/.test(value) || Number(value) === 0) {
        throw valueError(node, `invalid value "${value}" in "keepalive" directive`);
      }
      upstream.keepalive = { max: Number(value), requests: 1000, timeMs: 3_600_000, timeoutMs: 60_000 };
    },
  },
  keepaliveSetting("keepalive_requests", "requests", (node, value) => parseNumber(node, value)),
  keepaliveSetting("keepalive_time", "timeMs", (node, value) => parseTimeMs(node, value)),
  keepaliveSetting("keepalive_timeout", "timeoutMs", (node, value) => parseTimeMs(node, value)),
  ...HEALTH_CHECK_DIRECTIVES,
];

/** The groups live in the http block (HttpBuild.upstreams); no level of LocConf or SrvConf. */
export const UPSTREAM_MODULE: ConfModule = { name: "ngx_http_upstream_module", directives: UPSTREAM_DIRECTIVES };

/** keepalive_requests/_time/_timeout inside `upstream`: one value each, used with `keepalive N`. */
function keepaliveSetting(
  name: string,
  key: "requests" | "timeMs" | "timeoutMs",
  parse: (node: DirectiveNode, value: string) => number,
): DirectiveSpec {
  return {
    name,
    contexts: ["upstream"],
    args: [1],
    handle: (scope, node) => {
      const settings = (scope.upstream!.keepaliveSettings ??= {});
      if (settings[key] !== undefined) throw directiveError(node, "is duplicate");
      settings[key] = parse(node, node.args[0]!);
    },
  };
}

/** A `server` line's defaults: weight=1 max_fails=1 fail_timeout=10s. */
export function defaultUpstreamServer(name: string, place: SourcePlace): UpstreamServerConf {
  return {
    name,
    addresses: [],
    weight: 1,
    maxFails: 1,
    failTimeoutMs: 10_000,
    backup: false,
    down: false,
    maxConns: 0,
    place,
  };
}

/** The server parameters a balancing method allows (nginx's NGX_HTTP_UPSTREAM_* flags): only hash and ip_hash refuse backup. */
function allowsBackup(upstream: UpstreamConf): boolean {
  const kind = upstream.balancing?.kind;
  return kind !== "hash" && kind !== "ip-hash";
}

/** `server address [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] [max_conns=N] [resolve]`. */
function parseUpstreamServer(node: DirectiveNode, upstream: UpstreamConf): UpstreamServerConf {
  const [name, ...parameters] = node.args as [string, ...string[]];
  const server: { -readonly [K in keyof UpstreamServerConf]: UpstreamServerConf[K] } = defaultUpstreamServer(
    name,
    placeOf(node),
  );
  for (const parameter of parameters) {
    const eq = parameter.indexOf("=");
    const key = eq === -1 ? parameter : parameter.slice(0, eq);
    const value = eq === -1 ? "" : parameter.slice(eq + 1);
    if (key === "weight" && eq !== -1) server.weight = positive(node, parameter, value);
    else if (key === "max_fails" && eq !== -1) server.maxFails = parseNumberOr(node, parameter, value);
    else if (key === "fail_timeout" && eq !== -1) server.failTimeoutMs = parseTimeMs(node, value);
    else if (key === "max_conns" && eq !== -1) server.maxConns = parseNumberOr(node, parameter, value);
    else if (parameter === "backup") {
      if (!allowsBackup(upstream)) throw valueError(node, `balancing method does not support parameter "backup"`);
      server.backup = true;
    } else if (parameter === "down") server.down = true;
    else if (parameter === "resolve") server.resolve = true;
    else if (key === "service" && eq !== -1) {
      throw valueError(node, `the "service" parameter of "server" is not supported by wsgate`);
    } else throw valueError(node, `invalid parameter "${parameter}"`);
  }
  return server;
}

function parseNumberOr(node: DirectiveNode, parameter: string, value: string): number {
  if (!/^\d+$/.test(value)) throw valueError(node, `invalid parameter "${parameter}"`);
  return parseNumber(node, value);
}

function positive(node: DirectiveNode, parameter: string, value: string): number {
  const n = parseNumberOr(node, parameter, value);
  if (n === 0) throw valueError(node, `invalid parameter "${parameter}"`);
  return n;
}
