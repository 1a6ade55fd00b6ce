/**
 * Limiting the speed of a response: ngx_http_core_module's limit_rate and
 * limit_rate_after (the client's side, src/http/rate-limit.ts), and
 * ngx_http_proxy_module's proxy_limit_rate (reading from the upstream). All
 * three take a size with variables (ngx_http_set_complex_value_size_slot): a
 * value without variables is checked at load time, one with variables when a
 * response uses it. 0, the default, is no limit.
 */

import type { BuildScope } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_ALL_WITH_IF, HTTP_CONTEXTS, placeOf, type Context, type DirectiveSpec } from "../table.js";
import { directiveError, parseSize } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";

/** A size in bytes, or a value with variables evaluated per request. */
export type SizeValue = number | ComplexValue;

export interface LimitRateLocConf {
  /** limit_rate: bytes a second to the client; 0 for no limit. */
  limitRate: SizeValue;
  /** limit_rate_after: bytes sent before the limit applies. */
  limitRateAfter: SizeValue;
  /** proxy_limit_rate: bytes a second read from the upstream (with proxy_buffering); 0 for no limit. */
  proxyLimitRate: SizeValue;
}

type SizeKey = keyof LimitRateLocConf;

const LIMIT_RATE_DIRECTIVES: readonly DirectiveSpec[] = [
  sizeSlot("limit_rate", "limitRate", HTTP_ALL_WITH_IF),
  sizeSlot("limit_rate_after", "limitRateAfter", HTTP_ALL_WITH_IF),
  sizeSlot("proxy_limit_rate", "proxyLimitRate", HTTP_CONTEXTS),
];

export const LIMIT_RATE_MODULE: ConfModule<LimitRateLocConf> = {
  name: "limit_rate",
  directives: LIMIT_RATE_DIRECTIVES,
  createLoc: () => ({ limitRate: 0, limitRateAfter: 0, proxyLimitRate: 0 }),
};

function sizeSlot(name: string, key: SizeKey, contexts: readonly Context[]): DirectiveSpec {
  return { name, contexts, args: [1], handle: (scope, node) => setSize(scope, node, key) };
}

/** ngx_http_set_complex_value_size_slot(): "is duplicate", then "invalid value" for a fixed size nginx cannot parse. */
function setSize(scope: BuildScope, node: DirectiveNode, key: SizeKey): void {
  const conf = scope.loc!;
  if (conf[key] !== undefined) throw directiveError(node, "is duplicate");
  const value = node.args[0]!;
  // ngx_http_script_variables_count(): a value without "$" is a fixed size.
  conf[key] = value.includes("$")
    ? ComplexValue.compile(value, scope.http!.registry, placeOf(node))
    : parseSize(node, value);
}
