/**
 * Variables made by `set` (and by a rewrite regex's named captures): each is
 * defined once for the whole configuration and holds a per-request value in
 * the request's variable cache (as nginx keeps them in r->variables). Read
 * before any `set` gave it a value, it is empty and, with
 * uninitialized_variable_warn on, nginx's warning is logged through the hook
 * the request flow registers.
 */

import type { DirectiveNode } from "../parser.js";
import { valueError } from "../values.js";
import type { VariableRegistry } from "../../vars/registry.js";
import type { VariableSource } from "../../vars/source.js";

/**
 * The built-in variables nginx marks NGX_HTTP_VAR_CHANGEABLE, which `set` may
 * assign: $args (the request's arguments change, ngx_http_variable_set_args())
 * and $limit_rate. Every other built-in is "the duplicate … variable".
 */
export const CHANGEABLE_BUILTINS: ReadonlySet<string> = new Set(["args", "limit_rate"]);

/** Names defined by `set`, per registry: a second `set` of one is fine, a built-in is not (unless changeable). */
const setNames = new WeakMap<VariableRegistry, Set<string>>();

/** Who hears of an uninitialized read (the request flow registers each request's error log). */
const warners = new WeakMap<VariableSource, (name: string) => void>();

export function onUninitializedVariable(r: VariableSource, warn: (name: string) => void): void {
  warners.set(r, warn);
}

export function defineSetVariable(registry: VariableRegistry, name: string, node: DirectiveNode): void {
  let names = setNames.get(registry);
  if (!names) {
    names = new Set();
    setNames.set(registry, names);
  }
  if (names.has(name)) return;
  if (registry.isDefined(name)) {
    if (CHANGEABLE_BUILTINS.has(name)) return;
    throw valueError(node, `the duplicate "${name}" variable`);
  }
  names.add(name);
  registry.define(name, (r) => {
    warners.get(r)?.(name);
    return "";
  });
}
