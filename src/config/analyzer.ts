/**
 * Checks every directive against the table — known name, allowed context,
 * argument count, block or not — and hands it to its handler, in file order,
 * so the first problem reported is the one nginx reports.
 */

import { ConfigError } from "../core/errors.js";
import type { BuildScope } from "./build-scope.js";
import type { DirectiveNode } from "./parser.js";
import { arityAccepts, placeOf, type DirectiveSpec } from "./table.js";
import { DIRECTIVES } from "./directives.js";
import { NGINX_DIRECTIVES } from "./nginx-directives.js";
import { outOfScopeModule } from "./out-of-scope.js";

export function walkBlock(nodes: readonly DirectiveNode[], scope: BuildScope): void {
  for (const node of nodes) analyzeDirective(node, scope);
}

function analyzeDirective(node: DirectiveNode, scope: BuildScope): void {
  if (node.error) throw node.error;
  const spec = specFor(node, scope);
  checkShape(spec, node);
  spec.handle(scope, node, walkBlock);
}

/** ngx_conf_handler(): a row with this name that is allowed in this context. */
function specFor(node: DirectiveNode, scope: BuildScope): DirectiveSpec {
  const rows = DIRECTIVES.get(node.name);
  if (!rows) {
    const module = outOfScopeModule(node.name);
    if (module !== undefined) {
      const message = `unknown directive "${node.name}": ${module} is not supported by wsgate`;
      throw new ConfigError("unsupported", message, placeOf(node));
    }
    const kind = NGINX_DIRECTIVES.has(node.name) ? "unsupported" : "unknown-directive";
    const message =
      kind === "unsupported"
        ? `"${node.name}" directive is not supported by wsgate`
        : `unknown directive "${node.name}"`;
    throw new ConfigError(kind, message, placeOf(node));
  }
  const row = rows.find((candidate) => candidate.contexts.includes(scope.context));
  if (!row) {
    throw new ConfigError("not-allowed", `"${node.name}" directive is not allowed here`, placeOf(node));
  }
  return row;
}

function checkShape(spec: DirectiveSpec, node: DirectiveNode): void {
  const place = placeOf(node);
  if (spec.block && !node.block) {
    throw new ConfigError("arguments", `directive "${node.name}" has no opening "{"`, place);
  }
  if (!spec.block && node.block) {
    throw new ConfigError("arguments", `directive "${node.name}" is not terminated by ";"`, place);
  }
  if (!arityAccepts(spec.args, node.args.length)) {
    throw new ConfigError("arguments", `invalid number of arguments in "${node.name}" directive`, place);
  }
}
