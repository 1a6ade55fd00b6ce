/**
 * nginx compiles its regexes with PCRE; wsgate runs them with JavaScript's
 * engine, after pcre.ts has rewritten PCRE's spellings (named groups, inline
 * options at the start, \A \z \p{…}, PCRE's `$` and `.` …) into
 * JavaScript's. A construct JavaScript cannot express is refused by name.
 */

import type { DirectiveNode } from "./parser.js";
import { valueError } from "./values.js";
import { translatePcre, UnsupportedRegex } from "./pcre.js";
import { namedCaptureVariable } from "../vars/captures.js";
import type { VariableRegistry } from "../vars/registry.js";

/**
 * Compile a configuration regex. With a registry, its named captures become
 * variables, as nginx defines them when it compiles the regex.
 */
export function compileRegex(
  node: DirectiveNode,
  source: string,
  caseless: boolean,
  registry?: VariableRegistry,
): RegExp {
  let regex: RegExp;
  try {
    regex = pcreRegex(source, caseless);
  } catch (err) {
    if (err instanceof UnsupportedRegex) throw valueError(node, err.message);
    const text =
      err instanceof Error ? err.message.replace(/^Invalid regular expression: (\/.*\/[a-z]*: )?/s, "") : String(err);
    throw valueError(node, `pcre2_compile() failed: ${PCRE_WORDS[text] ?? text} in "${source}"`);
  }
  if (registry) {
    // An alternation with the empty string matches "", which lists every group name.
    const names = Object.keys(new RegExp(`${regex.source}|`, regex.flags).exec("")?.groups ?? {});
    for (const name of names) {
      if (!registry.isDefined(name)) registry.define(name, namedCaptureVariable(name), false);
    }
  }
  return regex;
}

/** A PCRE pattern as a JavaScript RegExp (throws UnsupportedRegex, or the engine's SyntaxError). */
export function pcreRegex(source: string, caseless: boolean): RegExp {
  const { source: js, flags } = translatePcre(source, caseless);
  return new RegExp(js, flags);
}

/** PCRE2's words for the errors JavaScript's engine names otherwise. */
const PCRE_WORDS: Record<string, string> = {
  "Unterminated group": "missing closing parenthesis",
  "Unmatched ')'": "unmatched closing parenthesis",
  "Nothing to repeat": "quantifier does not follow a repeatable item",
  "Unterminated character class": "missing terminating ] for character class",
  "\\ at end of pattern": "\\ at end of pattern",
};
