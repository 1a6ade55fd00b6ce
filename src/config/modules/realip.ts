/**
 * ngx_http_realip_module: `set_real_ip_from` (addresses, prefixes, `unix:`),
 * `real_ip_header` (X-Real-IP by default, X-Forwarded-For, any header, or
 * `proxy_protocol`) and `real_ip_recursive`. As nginx, a level with any
 * set_real_ip_from replaces the list it would inherit; the request-time part
 * is src/http/realip.ts.
 */

import type { AccessRule } from "./access.js";
import { parseCidrBits } from "./access.js";
import type { ConfModule } from "../module.js";
import type { DirectiveSpec } from "../table.js";
import { configWarning, locFlag, valueError } from "../values.js";

/** A trusted address: a prefix (IPv4 or IPv6), or `unix:` (a client on a unix socket). */
export type RealIpSource = Exclude<AccessRule["match"], { kind: "all" }>;

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
        // nginx looks a host name up (getaddrinfo at load time); wsgate takes addresses and prefixes only.
        if (/^[A-Za-z0-9.-]+$/.test(text) && /[A-Za-z]/.test(text)) {
          throw valueError(node, `host names in "set_real_ip_from" are not supported by wsgate`);
        }
        throw valueError(node, `invalid parameter "${text}"`);
      }
      if (parsed.lowBitsCleared) configWarning(scope, node, `low address bits of ${text} are meaningless`);
      list.push(parsed.match);
    },
  },
  {
    name: "real_ip_header",
    contexts: ["http", "server", "location"],
    args: [1],
    // ngx_http_realip(): compared case-sensitively; another spelling is a header like any other. No duplicate check.
    handle: (scope, node) => {
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
