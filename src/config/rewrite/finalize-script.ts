/**
 * The last step of loading a script: each `if` in a location gets its
 * resolved level (its own settings over the enclosing location's, and the
 * enclosing proxy_pass unless it has its own, as nginx merges a noname
 * location).
 */

import type { LocationBuild } from "../build-scope.js";
import { mergeLoc } from "../merge.js";
import type { LocConf } from "../model.js";
import type { BuildCode } from "./compile.js";
import type { RewriteCode } from "./script.js";

export function finalizeScript(
  codes: readonly BuildCode[] | undefined,
  parent: LocationBuild | undefined,
  parentLoc: LocConf,
): RewriteCode[] | undefined {
  if (codes === undefined) return undefined;
  return codes.map((code): RewriteCode => {
    if (code.kind !== "if") return code;
    const build = code.build;
    const location = build
      ? {
          modifier: build.modifier,
          path: build.path,
          regex: build.regex,
          loc: mergeLoc(build.loc, parentLoc),
          locations: [],
          proxyPass: build.proxyPass ?? parent?.proxyPass,
          place: build.place,
          noname: true,
        }
      : undefined;
    return {
      kind: "if",
      condition: code.condition,
      body: finalizeScript(code.body, parent, location?.loc ?? parentLoc) ?? [],
      location,
    };
  });
}
