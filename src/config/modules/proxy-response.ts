/**
 * ngx_http_proxy_module's directives about the upstream's response:
 * proxy_redirect, proxy_intercept_errors, proxy_buffering.
 */

import type { ProxyRedirect } from "../model.js";
import { compileRegex } from "../regex.js";
import { HTTP_CONTEXTS, placeOf, type DirectiveSpec } from "../table.js";
import { locFlag, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { defaultRedirect } from "../../proxy/response-rewrite.js";

export const PROXY_RESPONSE_DIRECTIVES: readonly DirectiveSpec[] = [
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
