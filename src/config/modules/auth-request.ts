/**
 * ngx_http_auth_request_module: `auth_request uri|off` and
 * `auth_request_set $variable value` (http, server, location). The check
 * runs in the access phase (http/auth-request.ts), after auth_basic, under
 * `satisfy`. As nginx's merge: `auth_request` is inherited unless a level
 * sets it (`off` included); a level with any `auth_request_set` has its own
 * list, the parent's is not added to it.
 */

import type { ConfModule } from "../module.js";
import { placeOf, type Context, type DirectiveSpec } from "../table.js";
import { directiveError, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import type { Setter, VariableRegistry } from "../../vars/registry.js";
import type { DirectiveNode } from "../parser.js";
import { isSetVariable } from "../rewrite/set-variables.js";

/** NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF. */
const CONTEXTS: readonly Context[] = ["http", "server", "location"];

/** One `auth_request_set`: the main request's variable, and the value evaluated in the subrequest. */
export interface AuthRequestVariable {
  readonly index: number;
  readonly value: ComplexValue;
  /** A built-in's set handler ($args, $limit_rate …), else the value is stored for the request. */
  readonly setter: Setter | undefined;
}

export interface AuthRequestLocConf {
  /** The subrequest's URI; "" for `off`; undefined where no level sets it. */
  authRequest: string | undefined;
  authRequestSet: AuthRequestVariable[] | undefined;
}

/**
 * ngx_http_add_variable(…, NGX_HTTP_VAR_CHANGEABLE): a name of nobody's is made, reading as "not found"
 * until set; one of `set`'s, a map's target or a built-in with a set handler is shared; any other built-in
 * is a duplicate.
 */
function changeableVariable(registry: VariableRegistry, name: string, node: DirectiveNode): void {
  if (registry.setterOf(name) || registry.isChangeable(name) || isSetVariable(registry, name)) return;
  if (registry.isDefined(name)) throw valueError(node, `the duplicate "${name}" variable`);
  registry.define(name, () => undefined);
  // A later `set $name` stores into it too, as nginx's rewrite module does with a changeable variable.
  registry.markChangeable(name);
}

export const AUTH_REQUEST_MODULE: ConfModule<AuthRequestLocConf> = {
  name: "ngx_http_auth_request_module",
  directives: [
    {
      name: "auth_request",
      contexts: CONTEXTS,
      args: [1],
      handle: (scope, node) => {
        if (scope.loc!.authRequest !== undefined) throw directiveError(node, "is duplicate");
        const uri = node.args[0]!;
        scope.loc!.authRequest = uri === "off" ? "" : uri;
      },
    },
    {
      name: "auth_request_set",
      contexts: CONTEXTS,
      args: [2],
      handle: (scope, node) => {
        const [variable, text] = [node.args[0]!, node.args[1]!];
        if (!variable.startsWith("$")) throw valueError(node, `invalid variable name "${variable}"`);
        const name = variable.slice(1);
        if (name === "") throw valueError(node, `invalid variable name "$"`);
        const registry = scope.http!.registry;
        changeableVariable(registry, name, node);
        const entry: AuthRequestVariable = {
          index: registry.indexOf(name, placeOf(node)),
          value: ComplexValue.compile(text, registry, placeOf(node)),
          setter: registry.setterOf(name),
        };
        (scope.loc!.authRequestSet ??= []).push(entry);
      },
    },
  ] satisfies DirectiveSpec[],
  createLoc: () => ({ authRequest: undefined, authRequestSet: undefined }),
};
