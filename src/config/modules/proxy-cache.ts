/**
 * ngx_http_proxy_module's cache directives as nginx reads them in a
 * configuration without a cache: `proxy_cache off` (the default written
 * out), `proxy_cache_bypass` and `proxy_no_cache` (predicates nginx compiles
 * but only evaluates when a cache serves the location, so without one they
 * have no effect). wsgate has no proxy cache yet: `proxy_cache ZONE` (a zone
 * name or variables) is refused by name.
 */

import { ConfigError } from "../../core/errors.js";
import { ComplexValue } from "../../vars/complex-value.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, placeOf, type DirectiveSpec } from "../table.js";
import type { BuildScope } from "../build-scope.js";
import { directiveError, setOnce } from "../values.js";

export interface ProxyCacheLocConf {
  /** proxy_cache: only `off` is accepted until wsgate has a cache. */
  proxyCache: "off";
  /** proxy_cache_bypass: its predicates, compiled for nginx's checks; read once a cache exists. */
  proxyCacheBypass: readonly ComplexValue[];
  /** proxy_no_cache: likewise. */
  proxyNoCache: readonly ComplexValue[];
}

const PROXY_CACHE_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "proxy_cache",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      // ngx_http_proxy_cache(): the duplicate check comes before the value's.
      if (scope.loc!.proxyCache !== undefined) throw directiveError(node, "is duplicate");
      if (node.args[0] !== "off") {
        throw new ConfigError(
          "unsupported",
          `"proxy_cache ${node.args[0]!}" is not supported by wsgate`,
          placeOf(node),
        );
      }
      setOnce(scope.loc!, "proxyCache", "off", node);
    },
  },
  {
    name: "proxy_cache_bypass",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      scope.loc!.proxyCacheBypass = [...(scope.loc!.proxyCacheBypass ?? []), ...predicates(scope, node)];
    },
  },
  {
    name: "proxy_no_cache",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      scope.loc!.proxyNoCache = [...(scope.loc!.proxyNoCache ?? []), ...predicates(scope, node)];
    },
  },
];

/** ngx_http_set_predicate_slot(): each argument a complex value; several lines add to the list. */
function predicates(scope: BuildScope, node: DirectiveNode): ComplexValue[] {
  return node.args.map((text) => ComplexValue.compile(text, scope.http!.registry, placeOf(node)));
}

export const PROXY_CACHE_MODULE: ConfModule<ProxyCacheLocConf> = {
  name: "proxy cache",
  directives: PROXY_CACHE_DIRECTIVES,
  createLoc: () => ({ proxyCache: "off", proxyCacheBypass: [], proxyNoCache: [] }),
};
