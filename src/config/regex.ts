/**
 * nginx compiles its regexes with PCRE; JavaScript's engine agrees on the
 * syntax configurations use. The one spelling PCRE has and JavaScript lacks,
 * `(?P<name>…)` for named captures, is rewritten to `(?<name>…)`.
 */

import type { DirectiveNode } from "./parser.js";
import { valueError } from "./values.js";

export function compileRegex(node: DirectiveNode, source: string, caseless: boolean): RegExp {
  const js = source.replace(/\(\?P</g, "(?<");
  try {
    return new RegExp(js, caseless ? "i" : "");
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, "") : String(err);
    throw valueError(node, `pcre2_compile() failed: ${reason} in "${source}"`);
  }
}
