/**
 * The glob(3) subset that `include` needs: `*`, `?` and `[...]` in any path
 * component, matches sorted, no match is no error, and (as glob(3) without
 * GLOB_PERIOD) a wildcard never matches a leading dot.
 */

import { readdirSync } from "node:fs";
import { join, parse, sep } from "node:path";

const MAGIC = /[*?[]/;

export function hasGlobMagic(pattern: string): boolean {
  return MAGIC.test(pattern);
}

export function expandGlob(pattern: string): string[] {
  const { root } = parse(pattern);
  const parts = pattern
    .slice(root.length)
    .split(sep)
    .filter((part) => part !== "");
  let paths = [root];
  for (const part of parts) {
    paths = hasGlobMagic(part) ? paths.flatMap((dir) => matchIn(dir, part)) : paths.map((dir) => join(dir, part));
  }
  return paths.sort();
}

function matchIn(dir: string, part: string): string[] {
  const re = componentRegex(part);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => !(name.startsWith(".") && !part.startsWith(".")) && re.test(name))
    .map((name) => join(dir, name));
}

function componentRegex(part: string): RegExp {
  let source = "";
  for (let i = 0; i < part.length; i++) {
    const ch = part[i]!;
    if (ch === "*") source += "[^/]*";
    else if (ch === "?") source += "[^/]";
    else if (ch === "[") {
      const close = part.indexOf("]", i + 2);
      if (close === -1) {
        source += "\\[";
        continue;
      }
      let set = part.slice(i + 1, close);
      if (set.startsWith("!")) set = "^" + set.slice(1);
      source += "[" + set.replace(/\\/g, "\\\\") + "]";
      i = close;
    } else source += ch.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp("^" + source + "$");
}
