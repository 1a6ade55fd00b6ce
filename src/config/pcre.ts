/**
 * PCRE's regex syntax, as nginx compiles it (PCRE2, no UTF mode), rewritten
 * for JavaScript's engine so that a pattern matches what it matches under
 * nginx: named groups in all three spellings, option settings at the start
 * or after a leading `^` (`(?i)`, `(?s)`, `(?m)`) as flags, a group's
 * options that change nothing (`(?i:…)` in a caseless pattern), `\A \z \Z \h \e \a \Q…\E \x{…}`, POSIX
 * classes, PCRE's `$` (also before a final newline) and `.` (anything but a
 * newline), a `{` that starts no quantifier taken literally, `\p{…}`
 * classes (with the `u` flag, which only such a pattern gets). What
 * JavaScript cannot express — atomic groups, possessive quantifiers,
 * recursion, conditionals, branch resets, options set mid-pattern — is
 * reported as such rather than compiled into something else.
 */

export interface JsPattern {
  readonly source: string;
  readonly flags: string;
}

/** A construct PCRE has and JavaScript's engine lacks. */
export class UnsupportedRegex extends Error {}

const SYNTAX = new Set([..."^$\\.*+?()[]{}|/"]);

const POSIX: Record<string, string> = {
  alpha: "a-zA-Z",
  digit: "0-9",
  alnum: "a-zA-Z0-9",
  upper: "A-Z",
  lower: "a-z",
  space: "\\t\\n\\v\\f\\r ",
  blank: " \\t",
  punct: "!-\\/:-@\\[-`{-~",
  xdigit: "0-9A-Fa-f",
  word: "\\w",
  cntrl: "\\x00-\\x1f\\x7f",
  print: " -~",
  graph: "!-~",
  ascii: "\\x00-\\x7f",
};

/** Translate a PCRE pattern; `caseless` is nginx's NGX_REGEX_CASELESS (`~*`). */
export function translatePcre(pattern: string, caseless: boolean): JsPattern {
  const options: Options = { i: caseless, s: false, m: false };
  let at = 0;
  // Option settings at the very start (or right after a leading "^", which no option changes) apply to
  // the whole pattern: JavaScript's flags.
  const leading = /^(\^?)\(\?([imsxnJU-]+)\)/;
  let anchor = "";
  for (let match = leading.exec(pattern); match; match = leading.exec(pattern.slice(at))) {
    if (match[1] !== "") {
      if (anchor !== "") break;
      anchor = "^";
    }
    setOptions(match[2]!, options, pattern);
    at += match[0].length;
  }
  const state = { unicode: false, out: anchor };
  const put = (text: string): void => void (state.out += text);
  let inClass = false;
  let classStart = -1;
  while (at < pattern.length) {
    const ch = pattern[at]!;
    if (ch === "\\") {
      at = escape(pattern, at, inClass, state);
      continue;
    }
    if (inClass) {
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(at));
      if (posix && POSIX[posix[2]!] !== undefined && posix[1] === "") {
        put(POSIX[posix[2]!]!);
        at += posix[0].length;
        continue;
      }
      if (posix) unsupported(pattern, `the POSIX class "${posix[0]}"`);
      if (ch === "]" && at !== classStart) inClass = false;
      put(ch === "]" && at === classStart ? "\\]" : ch === "[" ? "\\[" : ch);
      at++;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      const negated = pattern[at + 1] === "^";
      put(negated ? "[^" : "[");
      at += negated ? 2 : 1;
      // A "]" first in a class is a literal in PCRE.
      classStart = at;
      continue;
    }
    if (ch === "(") {
      at = group(pattern, at, state, options);
      continue;
    }
    if (ch === "{") {
      const quantifier = /^\{\d+(,\d*)?\}/.exec(pattern.slice(at));
      put(quantifier ? quantifier[0] : "\\{");
      at += quantifier ? quantifier[0].length : 1;
      if (quantifier && pattern[at] === "+") unsupported(pattern, "a possessive quantifier");
      continue;
    }
    if (ch === "}" || ch === "]") put("\\" + ch);
    else if (ch === "$") put(options.m ? "$" : "(?=\\n?(?![\\s\\S]))");
    else if (ch === ".") put(options.s ? "." : "[^\\n]");
    else put(ch);
    at++;
    if ((ch === "*" || ch === "+" || ch === "?") && pattern[at] === "+")
      unsupported(pattern, "a possessive quantifier");
  }
  const flags = (options.i ? "i" : "") + (options.m ? "m" : "") + (options.s ? "s" : "") + (state.unicode ? "u" : "");
  return { source: state.out, flags };
}

interface Options {
  i: boolean;
  s: boolean;
  m: boolean;
}

function setOptions(letters: string, options: Options, pattern: string): void {
  let on = true;
  for (const letter of letters) {
    if (letter === "-") on = false;
    else if (letter === "i" || letter === "s" || letter === "m") options[letter] = on;
    else unsupported(pattern, `the option "(?${letters})"`);
  }
}

/** `(`: groups in PCRE's spellings; returns where the scan goes on. */
function group(pattern: string, at: number, state: { out: string }, options: Options): number {
  const rest = pattern.slice(at);
  const named = /^\(\?(?:P<|<(?![=!])|')([A-Za-z_]\w*)[>']/.exec(rest);
  if (named) {
    state.out += `(?<${named[1]!}>`;
    return at + named[0].length;
  }
  const reference = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest);
  if (reference) {
    state.out += `\\k<${reference[1]!}>`;
    return at + reference[0].length;
  }
  if (rest.startsWith("(?#")) {
    const end = pattern.indexOf(")", at);
    return end === -1 ? pattern.length : end + 1;
  }
  const plain = /^\((?:\?(?::|=|!|<=|<!))?/.exec(rest)![0];
  if (plain !== "(?" && plain !== "(") {
    state.out += plain;
    return at + plain.length;
  }
  if (plain === "(" && rest[1] !== "?" && rest[1] !== "*") {
    state.out += "(";
    return at + 1;
  }
  if (rest.startsWith("(?>")) unsupported(pattern, 'an atomic group "(?>…)"');
  if (rest.startsWith("(?|")) unsupported(pattern, 'a branch reset "(?|…)"');
  if (rest.startsWith("(?(")) unsupported(pattern, "a conditional group");
  if (/^\(\?(R|[+-]?\d|&|P>)/.test(rest)) unsupported(pattern, "a recursion or subroutine call");
  if (rest.startsWith("(*")) unsupported(pattern, `the verb "${/^\(\*[^)]*\)?/.exec(rest)![0]}"`);
  const inline = /^\(\?([imsxnJU-]*)([):])/.exec(rest);
  if (inline) {
    // Options that leave every option as it already is change nothing: `(?i:…)` in a caseless pattern.
    const after = { ...options };
    setOptions(inline[1]!, after, pattern);
    if (after.i !== options.i || after.s !== options.s || after.m !== options.m)
      unsupported(pattern, "options set inside the pattern");
    state.out += inline[2] === ":" ? "(?:" : "";
    return at + inline[0].length;
  }
  // Anything else is PCRE's own syntax error: JavaScript's engine reports it.
  state.out += "(?";
  return at + 2;
}

/** A backslash escape at `at`; returns where the scan goes on. */
function escape(pattern: string, at: number, inClass: boolean, state: { unicode: boolean; out: string }): number {
  const next = pattern[at + 1];
  if (next === undefined) {
    state.out += "\\";
    return at + 1;
  }
  const rest = pattern.slice(at);
  if (next === "Q") {
    const end = pattern.indexOf("\\E", at + 2);
    const literal = pattern.slice(at + 2, end === -1 ? pattern.length : end);
    for (const ch of literal) state.out += literalChar(ch);
    return end === -1 ? pattern.length : end + 2;
  }
  if (next === "E") return at + 2;
  const braced = /^\\x\{([0-9a-fA-F]+)\}/.exec(rest);
  if (braced) {
    state.out += literalChar(String.fromCodePoint(parseInt(braced[1]!, 16)));
    return at + braced[0].length;
  }
  const namedReference = /^\\(?:k\{|k'|k<|g\{)([A-Za-z_]\w*)[}'>]/.exec(rest);
  if (namedReference) {
    state.out += `\\k<${namedReference[1]!}>`;
    return at + namedReference[0].length;
  }
  const numbered = /^\\g\{?(\d+)\}?/.exec(rest);
  if (numbered) {
    state.out += `\\${numbered[1]!}`;
    return at + numbered[0].length;
  }
  if (next === "p" || next === "P") {
    const property = /^\\[pP](\{\^?[A-Za-z_ &]+\}|[A-Za-z])/.exec(rest);
    if (property) {
      state.unicode = true;
      const body = property[1]!.length === 1 ? property[1]! : property[1]!.slice(1, -1);
      const negate = body.startsWith("^") !== (next === "P");
      state.out += `\\${negate ? "P" : "p"}{${body.replace(/^\^/, "").replace(/[ _]/g, "")}}`;
      return at + property[0].length;
    }
  }
  const replacement = ESCAPES[next]?.(inClass, pattern);
  if (replacement !== undefined) {
    state.out += replacement;
    return at + 2;
  }
  state.out += /[A-Za-z0-9]/.test(next) ? `\\${next}` : literalChar(next);
  return at + 2;
}

const ESCAPES: Record<string, (inClass: boolean, pattern: string) => string> = {
  A: (inClass, pattern) => (inClass ? unsupported(pattern, "\\A in a class") : "(?<![\\s\\S])"),
  z: (inClass, pattern) => (inClass ? unsupported(pattern, "\\z in a class") : "(?![\\s\\S])"),
  Z: (inClass, pattern) => (inClass ? unsupported(pattern, "\\Z in a class") : "(?=\\n?(?![\\s\\S]))"),
  h: (inClass) => (inClass ? "\\t \\xa0" : "[\\t \\xa0]"),
  H: (inClass, pattern) => (inClass ? unsupported(pattern, "\\H in a class") : "[^\\t \\xa0]"),
  e: () => "\\x1b",
  a: () => "\\x07",
  K: (_inClass, pattern) => unsupported(pattern, "\\K"),
  G: (_inClass, pattern) => unsupported(pattern, "\\G"),
  R: (_inClass, pattern) => unsupported(pattern, "\\R"),
  X: (_inClass, pattern) => unsupported(pattern, "\\X"),
  C: (_inClass, pattern) => unsupported(pattern, "\\C"),
};

/** One character as a literal both in and out of a class, with or without the `u` flag. */
function literalChar(ch: string): string {
  if (SYNTAX.has(ch)) return "\\" + ch;
  if (/[A-Za-z0-9_ ]/.test(ch)) return ch;
  const code = ch.codePointAt(0)!;
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`;
  return ch;
}

function unsupported(pattern: string, what: string): never {
  throw new UnsupportedRegex(`${what} in "${pattern}" cannot be run by wsgate's regex engine`);
}
