/**
 * ngx_http_realip_module: `set_real_ip_from` (addresses, prefixes, `unix:`),
 * `real_ip_header` (X-Real-IP by default, X-Forwarded-For, any header, or
 * `proxy_protocol`) and `real_ip_recursive`. As nginx, a level with any
 * set_real_ip_from replaces the list it would inherit; the request-time part
 * is src/http/realip.ts.
 */

import { lookup } from "node:dns/promises";
import { ConfigError, type SourcePlace } from "../../core/errors.js";
import type { AccessRule } from "./access.js";
import { parseCidrBits } from "./access.js";
import { locationLevels, type HttpBuild } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { configWarning, directiveError, locFlag } from "../values.js";

/**
 * A trusted address: a prefix (IPv4 or IPv6), or `unix:` (a client on a unix socket); a host name
 * while the configuration is read, replaced by its addresses once looked up (lookUpRealIpHosts()).
 */
export type RealIpSource =
  | Exclude<AccessRule["match"], { kind: "all" }>
  | { readonly kind: "host"; readonly name: string; readonly place: SourcePlace };

/** Where the address comes from: the two headers nginx knows by name, any other header, or the PROXY header. */
export type RealIpHeader =
  | { readonly kind: "x-real-ip" }
  | { readonly kind: "x-forwarded-for" }
  | { readonly kind: "proxy_protocol" }
  /** `name` lower-cased: headers are matched by their lower-cased names, as nginx's hash. */
  | { readonly kind: "header"; readonly name: string };

export interface RealipLocConf {
  /** set_real_ip_from of the nearest level that has any; undefined: realip does nothing. */
  realIpFrom: readonly RealIpSource[] | undefined;
  realIpHeader: RealIpHeader;
  realIpRecursive: boolean;
}

const DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "set_real_ip_from",
    contexts: ["http", "server", "location"],
    args: [1],
    handle: (scope, node) => {
      const text = node.args[0]!;
      const list = (scope.loc!.realIpFrom ??= []) as RealIpSource[];
      if (text === "unix:") {
        list.push({ kind: "unix" });
        return;
      }
      const parsed = parseCidrBits(text);
      if (!parsed) {
        // Not an address or prefix: nginx looks it up as a host name (at load time), as lookUpRealIpHosts().
        list.push({ kind: "host", name: text, place: placeOf(node) });
        return;
      }
      if (parsed.lowBitsCleared) configWarning(scope, node, `low address bits of ${text} are meaningless`);
      list.push(parsed.match);
    },
  },
  {
    name: "real_ip_header",
    contexts: ["http", "server", "location"],
    args: [1],
    // ngx_http_realip(): compared case-sensitively; another spelling is a header like any other.
    handle: (scope, node) => {
      if (scope.loc!.realIpHeader !== undefined) throw directiveError(node, "is duplicate");
      scope.loc!.realIpHeader = realIpHeader(node.args[0]!);
    },
  },
  locFlag("real_ip_recursive", "realIpRecursive"),
];

function realIpHeader(value: string): RealIpHeader {
  if (value === "X-Real-IP") return { kind: "x-real-ip" };
  if (value === "X-Forwarded-For") return { kind: "x-forwarded-for" };
  if (value === "proxy_protocol") return { kind: "proxy_protocol" };
  return { kind: "header", name: value.toLowerCase() };
}

export const REALIP_MODULE: ConfModule<RealipLocConf> = {
  name: "ngx_http_realip_module",
  directives: DIRECTIVES,
  createLoc: () => ({ realIpFrom: undefined, realIpHeader: { kind: "x-real-ip" }, realIpRecursive: false }),
};

/**
 * set_real_ip_from with a host name: every address it has (IPv4 and IPv6), each as a whole
 * address, as ngx_inet_resolve_host(); a name that does not resolve is nginx's "host not found".
 */
export async function lookUpRealIpHosts(http: HttpBuild): Promise<void> {
  const levels = locationLevels(http);
  for (const loc of levels) {
    if (!loc.realIpFrom?.some((source) => source.kind === "host")) continue;
    const sources: RealIpSource[] = [];
    for (const source of loc.realIpFrom) {
      if (source.kind !== "host") sources.push(source);
      else sources.push(...(await hostAddresses(source.name, source.place)));
    }
    loc.realIpFrom = sources;
  }
}

async function hostAddresses(name: string, place: SourcePlace): Promise<RealIpSource[]> {
  let found: Array<{ address: string }>;
  try {
    found = await lookup(name, { all: true });
  } catch {
    throw new ConfigError("host-not-found", `host not found in set_real_ip_from "${name}"`, place);
  }
  return found.flatMap(({ address }) => parseCidrBits(address)?.match ?? []);
}
