/**
 * `wsgate_origin ORIGIN …;` (http, server, location; wsgate's own, off by
 * default): the origins a WebSocket handshake may come from — the browser's
 * defence against cross-site WebSocket hijacking, done once at the edge
 * instead of in every backend (http/origin-check.ts applies it).
 *
 * An entry is an exact origin (`https://chat.example.com`, `http://localhost:8080`),
 * a host with a leading wildcard (`https://*.example.com`: any subdomain, as
 * server_name's `*.` — the apex not included), either of them without a
 * scheme (`chat.example.com`, `*.example.com`: any scheme and port), `null`
 * (the origin of sandboxed and file pages), or a regex over the whole Origin
 * (`~^https://[a-z]+\.example\.com$`, `~*` caseless). Several directives at
 * one level add to the list; a level without one inherits the enclosing
 * level's; `wsgate_origin off;` lifts the check.
 */

import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import type { DirectiveSpec } from "../table.js";
import { compileRegex } from "../regex.js";
import { directiveError, valueError } from "../values.js";

export type OriginRule =
  | { readonly kind: "exact"; readonly origin: string }
  | { readonly kind: "host"; readonly scheme: string | undefined; readonly host: string }
  | { readonly kind: "suffix"; readonly scheme: string | undefined; readonly suffix: string }
  | { readonly kind: "regex"; readonly regex: RegExp };

export interface WsgateOriginLocConf {
  /** The allowed origins; undefined: inherited; empty: no check (`off`). */
  wsgateOrigin: readonly OriginRule[] | undefined;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//;
/** A host[:port] as an Origin serializes it: a name, an IPv4 address or a bracketed IPv6 address. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?$/;

/** One entry of the directive, as a rule. */
export function originRule(node: DirectiveNode, text: string): OriginRule {
  if (text.startsWith("~")) {
    const caseless = text.startsWith("~*");
    const source = text.slice(caseless ? 2 : 1);
    if (source === "") throw valueError(node, `invalid value "${text}"`);
    return { kind: "regex", regex: compileRegex(node, source, caseless) };
  }
  const lower = text.toLowerCase();
  if (lower === "null") return { kind: "exact", origin: "null" };
  const scheme = SCHEME.exec(lower)?.[1];
  const rest = scheme === undefined ? lower : lower.slice(scheme.length + 3);
  const wildcard = rest.startsWith("*.");
  const host = wildcard ? rest.slice(2) : rest;
  if (!HOST.test(host) || host.includes("*")) throw valueError(node, `invalid origin "${text}"`);
  if (wildcard) return { kind: "suffix", scheme, suffix: "." + host };
  if (scheme !== undefined) return { kind: "exact", origin: `${scheme}://${host}` };
  return { kind: "host", scheme: undefined, host };
}

const WSGATE_ORIGIN_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "wsgate_origin",
    contexts: ["http", "server", "location"],
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      if (node.args.length === 1 && node.args[0] === "off") {
        if (loc.wsgateOrigin !== undefined) throw directiveError(node, "is duplicate");
        loc.wsgateOrigin = [];
        return;
      }
      if (loc.wsgateOrigin?.length === 0) throw directiveError(node, "is duplicate");
      loc.wsgateOrigin = [...(loc.wsgateOrigin ?? []), ...node.args.map((arg) => originRule(node, arg))];
    },
  },
];

export const WSGATE_ORIGIN_MODULE: ConfModule<WsgateOriginLocConf> = {
  name: "wsgate_origin",
  directives: WSGATE_ORIGIN_DIRECTIVES,
  createLoc: () => ({ wsgateOrigin: undefined }),
};
