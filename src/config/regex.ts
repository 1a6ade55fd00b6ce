/**
 * nginx compiles its regexes with PCRE; JavaScript's engine agrees on the
 * syntax configurations use. The one spelling PCRE has and JavaScript lacks,
 * `(?P<name>…)` for named captures, is rewritten to `(?<name>…)`.
 */

import type { DirectiveNode } from "./parser.js";
import { valueError } from "./values.js";
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
  const js = source.replace(/\(\?P</g, "(?<");
  let regex: RegExp;
  try {
    regex = new RegExp(js, caseless ? "i" : "");
  } catch (err) {
    const text =
      err instanceof Error ? err.message.replace(/^Invalid regular expression: (\/.*\/[a-z]*: )?/s, "") : String(err);
    throw valueError(node, `pcre2_compile() failed: ${PCRE_WORDS[text] ?? text} in "${source}"`);
  }
  if (registry) {
    // An alternation with the empty string matches "", which lists every group name.
    const names = Object.keys(new RegExp(`${js}|`).exec("")?.groups ?? {});
    for (const name of names) {
      if (!registry.isDefined(name)) registry.define(name, namedCaptureVariable(name), false);
    }
  }
  return regex;
}

/** PCRE2's words for the errors JavaScript's engine names otherwise. */
const PCRE_WORDS: Record<string, string> = {
  "Unterminated group": "missing closing parenthesis",
  "Unmatched ')'": "unmatched closing parenthesis",
  "Nothing to repeat": "quantifier does not follow a repeatable item",
  "Unterminated character class": "missing terminating ] for character class",
  "\\ at end of pattern": "\\ at end of pattern",
};
