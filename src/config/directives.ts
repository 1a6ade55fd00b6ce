/**
 * The directive table: every directive wsgate accepts, one row each, from the
 * module files (modules/index.ts lists them). Adding a directive is one row
 * there, its slice field and default in the same file, and the code that
 * reads it. A name may have several rows (nginx's `server` in http and in
 * upstream, `error_log` in main and in http); the analyzer takes the one
 * allowed where the directive stands.
 */

import type { DirectiveSpec } from "./table.js";
import { MODULES } from "./modules/index.js";

export const DIRECTIVES: ReadonlyMap<string, readonly DirectiveSpec[]> = indexByName(
  MODULES.flatMap((module) => module.directives),
);

function indexByName(rows: readonly DirectiveSpec[]): Map<string, DirectiveSpec[]> {
  const byName = new Map<string, DirectiveSpec[]>();
  for (const row of rows) {
    const list = byName.get(row.name) ?? [];
    list.push(row);
    byName.set(row.name, list);
  }
  return byName;
}
