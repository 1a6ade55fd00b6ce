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
 * Names defined by `set`, per registry: a second `set` of one is fine, a built-in is not — unless
 * it is one nginx marks NGX_HTTP_VAR_CHANGEABLE: a built-in with a setter in the registry ($args,
 * $limit_rate), changed through it, or a `map`'s target, whose request value `set` stores.
 */
const setNames = new WeakMap<VariableRegistry, Set<string>>();

/** Who hears of an uninitialized read: the request flow, once per configuration (not a hook per request). */
const warners = new WeakMap<VariableRegistry, (r: VariableSource, name: string) => void>();

export function onUninitializedVariable(
  registry: VariableRegistry,
  warn: (r: VariableSource, name: string) => void,
): void {
  warners.set(registry, warn);
}

export function defineSetVariable(registry: VariableRegistry, name: string, node: DirectiveNode): void {
  let names = setNames.get(registry);
  if (!names) {
    names = new Set();
    setNames.set(registry, names);
  }
  if (names.has(name)) return;
  // A built-in with its own set handler ($args, $limit_rate) is changed by `set`, not redefined; so is
  // a map's target, whose value `set` stores for the request (read back unless the map is volatile).
  if (registry.setterOf(name) || registry.isChangeable(name)) return;
  if (registry.isDefined(name)) throw valueError(node, `the duplicate "${name}" variable`);
  names.add(name);
  registry.define(name, (r) => {
    warners.get(registry)?.(r, name);
    return "";
  });
}

/** Whether `set` made `name` a variable of this configuration (auth_request_set may then store into it too). */
export function isSetVariable(registry: VariableRegistry, name: string): boolean {
  return setNames.get(registry)?.has(name) === true;
}
