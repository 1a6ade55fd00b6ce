/**
 * ngx_http_proxy_module's directives about the upstream's response:
 * proxy_redirect, proxy_intercept_errors, proxy_buffering.
 */

import type { LocationModifier } from "../model.js";
import type { ConfModule } from "../module.js";
import { compileRegex } from "../regex.js";
import { HTTP_CONTEXTS, placeOf, type DirectiveSpec } from "../table.js";
import { locFlag, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import type { ProxyPass } from "./proxy.js";

export interface ProxyResponseLocConf {
  /** proxy_redirect lines; "off", or undefined for nginx's default (derived from proxy_pass). */
  proxyRedirects: readonly ProxyRedirect[] | "off" | undefined;
  proxyInterceptErrors: boolean;
  proxyBuffering: boolean;
}

/** One `proxy_redirect` line; `default` is resolved against the location's proxy_pass. */
export type ProxyRedirect =
  | { readonly kind: "text"; readonly pattern: ComplexValue; readonly replacement: ComplexValue }
  | { readonly kind: "regex"; readonly regex: RegExp; readonly replacement: ComplexValue }
  | { readonly kind: "default"; readonly pattern: string; readonly replacement: string };

const PROXY_RESPONSE_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "proxy_redirect",
    contexts: HTTP_CONTEXTS,
    args: [1, 2],
    handle: (scope, node) => {
      const loc = scope.loc!;
      // After "off" at a level, nginx ignores the level's other proxy_redirect lines.
      if (loc.proxyRedirects === "off") return;
      const [first, second] = node.args as [string, string | undefined];
      if (second === undefined) {
        if (first === "off") {
          loc.proxyRedirects = "off";
          return;
        }
        if (first !== "default") throw valueError(node, `invalid parameter "${first}"`);
      }
      const list = (loc.proxyRedirects ??= []) as ProxyRedirect[];
      const registry = scope.http!.registry;
      const place = placeOf(node);
      if (first === "default") {
        const location = scope.location;
        if (!location?.proxyPass) {
          throw valueError(node, `"proxy_redirect default" should be placed after the "proxy_pass" directive`);
        }
        list.push(defaultRedirect(location));
        return;
      }
      const replacement = ComplexValue.compile(second!, registry, place);
      if (first.startsWith("~")) {
        const caseless = first.startsWith("~*");
        const regex = compileRegex(node, first.slice(caseless ? 2 : 1), caseless);
        list.push({ kind: "regex", regex, replacement });
        return;
      }
      list.push({ kind: "text", pattern: ComplexValue.compile(first, registry, place), replacement });
    },
  },
  locFlag("proxy_intercept_errors", "proxyInterceptErrors"),
  locFlag("proxy_buffering", "proxyBuffering"),
];

export const PROXY_RESPONSE_MODULE: ConfModule<ProxyResponseLocConf> = {
  name: "ngx_http_proxy_module (response)",
  directives: PROXY_RESPONSE_DIRECTIVES,
  createLoc: () => ({ proxyRedirects: undefined, proxyInterceptErrors: false, proxyBuffering: true }),
};

/**
 * `proxy_redirect default` (ngx_http_proxy_merge_loc_conf()): proxy_pass's URL →
 * the location's name, or URL/ → / without a URI part. Also nginx's default
 * where no level wrote proxy_redirect (src/proxy/response-rewrite.ts).
 */
export function defaultRedirect(location: {
  readonly proxyPass?: ProxyPass | undefined;
  readonly path: string;
  readonly modifier: LocationModifier;
  readonly noname?: boolean | undefined;
}): ProxyRedirect {
  const pass = location.proxyPass!;
  if (pass.uri !== undefined) {
    const named =
      location.modifier === "~" || location.modifier === "~*" || location.modifier === "@" || location.noname;
    return { kind: "default", pattern: pass.url, replacement: named ? "" : location.path };
  }
  return { kind: "default", pattern: `${pass.url}/`, replacement: "/" };
}
