/**
 * `proxy_pass` with variables, evaluated per request as ngx_http_proxy_eval()
 * and ngx_http_upstream_init_request() do: the URL's host names an upstream
 * group if one has that name (and the same port, or none), else it is an
 * address, or a host name to resolve through the location's `resolver`
 * (nginx's "no resolver defined to resolve" 502 without one; every address
 * of the answer is a peer, as ngx_http_upstream_create_round_robin_peer()).
 */

import { isIP } from "node:net";
import type { ProxyPass, UpstreamAddress } from "../config/model.js";
import { inetTarget, namedGroup, splitHostPort, splitProxyUrl } from "../config/modules/proxy.js";
import { defaultUpstreamServer } from "../config/modules/upstream.js";
import type { HttpRequest } from "../http/request.js";
import { UpstreamGroup } from "../upstream/group.js";

export type PassTarget =
  | { readonly kind: "target"; readonly pass: ProxyPass; readonly group: UpstreamGroup }
  | { readonly kind: "resolve"; readonly pass: ProxyPass; readonly host: string; readonly port: number }
  | { readonly kind: "error"; readonly status: number; readonly message: string };

export function evaluatePassTarget(
  r: HttpRequest,
  pass: ProxyPass,
  upstreams: ReadonlyMap<string, UpstreamGroup>,
  hasResolver = false,
): PassTarget {
  const url = pass.dynamic!.evaluate(r);
  const parsed = splitProxyUrl(url);
  if (typeof parsed === "string") return { kind: "error", status: 500, message: parsed };
  if (parsed.kind === "unix") {
    const target = { ...pass, ...parsed };
    const address: UpstreamAddress = { kind: "unix", path: parsed.upstream.slice(5), text: parsed.upstream };
    return { kind: "target", pass: target, group: upstreams.get(parsed.upstream) ?? oneAddressGroup(target, address) };
  }
  const hostPort = splitHostPort(url, parsed.authority);
  if (typeof hostPort === "string") return { kind: "error", status: 500, message: hostPort };
  const target = { ...pass, ...inetTarget(parsed.scheme, hostPort.host, hostPort.port, parsed.uri) };
  const defaultPort = parsed.scheme === "https" ? 443 : 80;
  const host = hostPort.host.startsWith("[") ? hostPort.host.slice(1, -1) : hostPort.host;
  // An address is no group's name: ngx_parse_url() names it "addr:port", which no upstream matches.
  const named = isIP(host) ? undefined : namedGroup(upstreams, target);
  if (named) return { kind: "target", pass: target, group: named };
  if (!isIP(host)) {
    if (hasResolver) return { kind: "resolve", pass: target, host, port: hostPort.port ?? defaultPort };
    return { kind: "error", status: 502, message: `no resolver defined to resolve ${hostPort.host}` };
  }
  const port = hostPort.port ?? defaultPort;
  const text = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { kind: "target", pass: target, group: oneAddressGroup(target, { kind: "inet", host, port, text }) };
}

/** A resolved host name's addresses as a fresh group of one server (ngx_http_upstream_create_round_robin_peer). */
export function resolvedGroup(pass: ProxyPass, addresses: readonly string[], port: number): UpstreamGroup {
  const inet = addresses.map((host): UpstreamAddress => ({
    kind: "inet",
    host,
    port,
    text: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`,
  }));
  const server = { ...defaultUpstreamServer(pass.upstream, pass.place), addresses: inet };
  return new UpstreamGroup({ name: pass.upstream, servers: [server], implicit: true, place: pass.place });
}

/** nginx makes a fresh round-robin peer per request for an address (ngx_http_upstream_create_round_robin_peer). */
function oneAddressGroup(pass: ProxyPass, address: UpstreamAddress): UpstreamGroup {
  const server = { ...defaultUpstreamServer(address.text, pass.place), addresses: [address] };
  return new UpstreamGroup({ name: pass.upstream, servers: [server], implicit: true, place: pass.place });
}
