/**
 * ngx_http_rewrite_module's directives: return, rewrite, break, if, set,
 * rewrite_log, uninitialized_variable_warn. The first five record script
 * codes for the level they stand in (a server's run before the location is
 * chosen, a location's after); ../rewrite/ compiles them, src/http/rewrite-script.ts runs them.
 */

import { unnamedLocation, type BuildScope } from "../build-scope.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf, type Context, type DirectiveSpec } from "../table.js";
import { locFlag } from "../values.js";
import type { ConfModule } from "../module.js";
import { compileCondition, compileReturn, compileRewrite, compileSet, type BuildCode } from "../rewrite/compile.js";
import { defineSetVariable } from "../rewrite/set-variables.js";

export interface RewriteLocConf {
  rewriteLog: boolean;
  uninitializedVariableWarn: boolean;
}

const SCRIPT_CONTEXTS: readonly Context[] = ["server", "if-in-server", "location", "if-in-location"];
const FLAG_CONTEXTS: readonly Context[] = ["http", "server", "if-in-server", "location", "if-in-location"];

/** Where the codes of a level go: a server's or location's script, or the body of an `if`. */
const scripts = new WeakMap<object, BuildCode[]>();

function scriptFor(scope: BuildScope): BuildCode[] {
  const owner: object | undefined =
    scope.context === "if-in-server" || scope.context === "if-in-location"
      ? scope.loc
      : (scope.location ?? scope.server);
  let codes = scripts.get(owner!);
  if (!codes) {
    codes = [];
    scripts.set(owner!, codes);
    if (scope.context === "location") scope.location!.rewrite = codes;
    else if (scope.context === "server") scope.server!.rewrite = codes;
  }
  return codes;
}

const REWRITE_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "return",
    contexts: SCRIPT_CONTEXTS,
    args: [1, 2],
    handle: (scope, node) => scriptFor(scope).push(compileReturn(node, scope.http!.registry)),
  },
  {
    name: "rewrite",
    contexts: SCRIPT_CONTEXTS,
    args: [2, 3],
    handle: (scope, node) => scriptFor(scope).push(compileRewrite(node, scope.http!.registry)),
  },
  {
    name: "break",
    contexts: SCRIPT_CONTEXTS,
    args: [0],
    handle: (scope) => scriptFor(scope).push({ kind: "break" }),
  },
  {
    name: "set",
    contexts: SCRIPT_CONTEXTS,
    args: [2],
    handle: (scope, node) => {
      const code = compileSet(node, scope.http!.registry);
      if (code.kind === "set") defineSetVariable(scope.http!.registry, code.name, node);
      scriptFor(scope).push(code);
    },
  },
  {
    name: "if",
    contexts: ["server", "location"],
    args: "1more",
    block: true,
    handle: (scope, node, walk) => compileIf(scope, node, walk),
  },
  locFlag("rewrite_log", "rewriteLog", FLAG_CONTEXTS),
  locFlag("uninitialized_variable_warn", "uninitializedVariableWarn", FLAG_CONTEXTS),
];

export const REWRITE_MODULE: ConfModule<RewriteLocConf> = {
  name: "ngx_http_rewrite_module",
  directives: REWRITE_DIRECTIVES,
  createLoc: () => ({ rewriteLog: false, uninitializedVariableWarn: true }),
};

function compileIf(
  scope: BuildScope,
  node: DirectiveNode,
  walk: (n: readonly DirectiveNode[], s: BuildScope) => void,
): void {
  const codes = scriptFor(scope);
  const inLocation = scope.context === "location";
  const parent = scope.location;
  // An `if` in a location is an unnamed location of its own (nginx's noname), with the enclosing one's name.
  const build = inLocation && parent ? unnamedLocation(parent, placeOf(node)) : undefined;
  const condition = compileCondition(node, scope.http!.registry);
  const body: BuildCode[] = [];
  const loc = build?.loc ?? {};
  scripts.set(loc, body);
  codes.push({ kind: "if", condition, body, build });
  walk(node.block!, {
    ...scope,
    context: inLocation ? "if-in-location" : "if-in-server",
    loc,
    ...(build ? { location: build } : {}),
    srv: undefined,
  });
}
