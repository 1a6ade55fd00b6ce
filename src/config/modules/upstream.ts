/**
 * ngx_http_upstream_module's `upstream` block and its `server` lines.
 * Addresses are checked here and resolved (hostnames) when loading finishes.
 */

import type { SourcePlace } from "../errors.js";
import type { UpstreamConf, UpstreamServerConf } from "../model.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { parseNumber, parseTimeMs, valueError } from "../values.js";

export const UPSTREAM_DIRECTIVES: readonly DirectiveSpec[] = [
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
    },
  },
  {
    name: "server",
    contexts: ["upstream"],
    args: "1more",
    handle: (scope, node) => scope.upstream!.servers.push(parseUpstreamServer(node)),
  },
];

/** `server address [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] [max_conns=N]`. */
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

function parseUpstreamServer(node: DirectiveNode): UpstreamServerConf {
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
    else if (parameter === "backup") server.backup = true;
    else if (parameter === "down") server.down = true;
    else throw valueError(node, `invalid parameter "${parameter}"`);
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
