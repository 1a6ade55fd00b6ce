/**
 * ngx_http_proxy_module's directives that change the request line and body
 * sent upstream: proxy_method (a complex value since nginx 1.11.6) and
 * proxy_set_body. Both are http, server and location directives (not in
 * `if`), set once per level ("is duplicate") and inherited whole.
 */

import type { ConfModule } from "../module.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { directiveError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";

export interface ProxyRequestLocConf {
  /** proxy_method: the upstream request's method; undefined sends the client's. */
  proxyMethod: ComplexValue | undefined;
  /**
   * proxy_set_body: the upstream request's body in place of the client's (which
   * is still read, then dropped), sent with its Content-Length.
   */
  proxySetBody: ComplexValue | undefined;
}

function complexOnce(name: string, key: keyof ProxyRequestLocConf): DirectiveSpec {
  return {
    name,
    contexts: ["http", "server", "location"],
    args: [1],
    handle: (scope, node) => {
      const loc = scope.loc!;
      // ngx_http_set_complex_value_slot / ngx_conf_set_str_slot: a second line at one level.
      if (loc[key] !== undefined) throw directiveError(node, "is duplicate");
      loc[key] = ComplexValue.compile(node.args[0]!, scope.http!.registry, placeOf(node));
    },
  };
}

export const PROXY_REQUEST_MODULE: ConfModule<ProxyRequestLocConf> = {
  name: "ngx_http_proxy_module (request)",
  directives: [complexOnce("proxy_method", "proxyMethod"), complexOnce("proxy_set_body", "proxySetBody")],
  createLoc: () => ({ proxyMethod: undefined, proxySetBody: undefined }),
};
