/**
 * The shape of a directive-table row, after nginx's ngx_command_t: a name,
 * the contexts it may appear in, its argument count, whether it opens a
 * block, and the handler that records it into the level being built.
 */

import type { SourcePlace } from "../core/errors.js";
import type { DirectiveNode } from "./parser.js";
import type { BuildScope } from "./build-scope.js";

export type Context =
  "main" | "events" | "http" | "server" | "location" | "upstream" | "if-in-server" | "if-in-location" | "limit_except";

/**
 * nginx's argument masks: a list of allowed counts (NGX_CONF_TAKE1, TAKE12 …),
 * "flag" (exactly one, on|off), "1more", "2more", or "any".
 */
export type Arity = readonly number[] | "flag" | "1more" | "2more" | "any";

/** Walks a block's children in the scope the handler made for them. */
export type WalkBlock = (nodes: readonly DirectiveNode[], scope: BuildScope) => void;

export interface DirectiveSpec {
  readonly name: string;
  readonly contexts: readonly Context[];
  readonly args: Arity;
  readonly block?: boolean;
  readonly handle: (scope: BuildScope, node: DirectiveNode, walk: WalkBlock) => void;
}

export const HTTP_CONTEXTS: readonly Context[] = ["http", "server", "location"];
export const HTTP_MAIN_SRV: readonly Context[] = ["http", "server"];
/** What nginx's NGX_HTTP_LOC_CONF with NGX_HTTP_LIF_CONF allows. */
export const HTTP_ALL_WITH_IF: readonly Context[] = ["http", "server", "location", "if-in-location"];

export function arityAccepts(arity: Arity, count: number): boolean {
  if (arity === "any") return true;
  if (arity === "flag") return count === 1;
  if (arity === "1more") return count >= 1;
  if (arity === "2more") return count >= 2;
  return arity.includes(count);
}

export function placeOf(node: DirectiveNode): SourcePlace {
  return { file: node.file, line: node.line };
}
