/**
 * Compiling the rewrite module's directives into script codes, after
 * ngx_http_rewrite_module.c: the same argument rules and the same refusals
 * (`invalid return code`, `invalid condition`, `unexpected "x" in condition`,
 * regex errors), checked while the configuration is read.
 */

import type { LocationBuild } from "../build-scope.js";
import type { DirectiveNode } from "../parser.js";
import { compileRegex } from "../regex.js";
import { placeOf } from "../table.js";
import { valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import type { VariableRegistry } from "../../vars/registry.js";
import type { Condition, NamedCaptures, RewriteCode } from "./script.js";
import { defineSetVariable } from "./set-variables.js";

/** A code as recorded while reading: an `if` in a location still holds the level being built. */
export type BuildCode =
  | Exclude<RewriteCode, { kind: "if" }>
  | {
      readonly kind: "if";
      readonly condition: Condition;
      readonly body: BuildCode[];
      readonly build: LocationBuild | undefined;
    };

/** `return code [text]`, `return code URL`, `return URL`. */
export function compileReturn(node: DirectiveNode, registry: VariableRegistry): BuildCode {
  const [first, second] = node.args as [string, string | undefined];
  const place = placeOf(node);
  if (!/^\d+$/.test(first)) {
    if (second === undefined && /^(http:\/\/|https:\/\/|\$scheme)/.test(first)) {
      return { kind: "return", status: 302, text: ComplexValue.compile(first, registry, place) };
    }
    throw valueError(node, `invalid return code "${first}"`);
  }
  const status = Number(first);
  if (status > 999) throw valueError(node, `invalid return code "${first}"`);
  return {
    kind: "return",
    status,
    text: second === undefined ? undefined : ComplexValue.compile(second, registry, place),
  };
}

/** `rewrite regex replacement [flag]`. */
export function compileRewrite(node: DirectiveNode, registry: VariableRegistry): BuildCode {
  const [source, rawReplacement, flag] = node.args as [string, string, string | undefined];
  const place = placeOf(node);
  if (rawReplacement === "") throw valueError(node, "empty replacement");
  const regex = compileRegex(node, source, false);
  const named = namedCaptures(node, source, registry);
  let replacement = rawReplacement;
  let addArgs = true;
  if (replacement.endsWith("?")) {
    // The last "?" drops the request's arguments.
    replacement = replacement.slice(0, -1);
    addArgs = false;
  }
  let redirect: 301 | 302 | undefined;
  let stop = false;
  let breakCycle = false;
  if (/^(http:\/\/|https:\/\/|\$scheme)/.test(rawReplacement)) {
    redirect = 302;
    stop = true;
  }
  if (flag !== undefined) {
    if (flag === "last") stop = true;
    else if (flag === "break") {
      breakCycle = true;
      stop = true;
    } else if (flag === "redirect") {
      redirect = 302;
      stop = true;
    } else if (flag === "permanent") {
      redirect = 301;
      stop = true;
    } else throw valueError(node, `invalid parameter "${flag}"`);
  }
  // Without a redirect the replacement's "?" starts its arguments; a redirect keeps it in the URL.
  const question = redirect === undefined ? replacement.indexOf("?") : -1;
  const uriPart = question === -1 ? replacement : replacement.slice(0, question);
  const argsPart = question === -1 ? undefined : replacement.slice(question + 1);
  return {
    kind: "rewrite",
    regex,
    source,
    named,
    uri: ComplexValue.compile(uriPart, registry, place),
    args: argsPart === undefined ? undefined : ComplexValue.compile(argsPart, registry, place),
    addArgs,
    redirect,
    stop,
    breakCycle,
  };
}

/** `set $variable value`: the variable is defined here, for the whole configuration. */
export function compileSet(node: DirectiveNode, registry: VariableRegistry): BuildCode {
  const [target, value] = node.args as [string, string];
  if (!target.startsWith("$")) throw valueError(node, `invalid variable name "${target}"`);
  const name = target.slice(1);
  const place = placeOf(node);
  return {
    kind: "set",
    name: name.toLowerCase(),
    index: registry.indexOf(name, place),
    value: ComplexValue.compile(value, registry, place),
    setter: registry.setterOf(name),
  };
}

/** The condition of `if (...)`, after ngx_http_rewrite_if_condition(). */
export function compileCondition(node: DirectiveNode, registry: VariableRegistry): Condition {
  const value = [...node.args];
  const place = placeOf(node);
  let last = value.length - 1;
  const first = value[0]!;
  if (first.length < 1 || first[0] !== "(") throw valueError(node, `invalid condition "${first}"`);
  let cur: number;
  if (first.length === 1) cur = 1;
  else {
    cur = 0;
    value[0] = first.slice(1);
  }
  const end = value[last]!;
  if (end.length < 1 || !end.endsWith(")")) throw valueError(node, `invalid condition "${end}"`);
  if (end.length === 1) last--;
  else value[last] = end.slice(0, -1);
  if (cur > last) throw valueError(node, `invalid condition "${value[cur] ?? ""}"`);
  const word = value[cur]!;
  if (word.length > 1 && word[0] === "$") {
    if (cur !== last && cur + 2 !== last) throw valueError(node, `invalid condition "${word}"`);
    const left = ComplexValue.compile(word, registry, place);
    if (cur === last) return { kind: "variable", value: left };
    const op = value[cur + 1]!;
    const right = value[last]!;
    if (op === "=" || op === "!=") {
      return { kind: "equal", negate: op === "!=", left, right: ComplexValue.compile(right, registry, place) };
    }
    if (op === "~" || op === "~*" || op === "!~" || op === "!~*") {
      return {
        kind: "regex",
        negate: op[0] === "!",
        left,
        regex: compileRegex(node, right, op.endsWith("*")),
        source: right,
        named: namedCaptures(node, right, registry),
      };
    }
    throw valueError(node, `unexpected "${op}" in condition`);
  }
  if ((word.length === 2 && word[0] === "-") || (word.length === 3 && word.startsWith("!-"))) {
    if (cur + 1 !== last) throw valueError(node, `invalid condition "${word}"`);
    const negate = word[0] === "!";
    const test = word[negate ? 2 : 1]!;
    if (test !== "f" && test !== "d" && test !== "e" && test !== "x")
      throw valueError(node, `invalid condition "${word}"`);
    return { kind: "file", negate, test, path: ComplexValue.compile(value[last]!, registry, place) };
  }
  throw valueError(node, `invalid condition "${word}"`);
}

/** `(?<name>…)` (and PCRE's `(?P<name>…)`, `(?'name'…)`) make variables, set when the regex matches. */
function namedCaptures(node: DirectiveNode, source: string, registry: VariableRegistry): NamedCaptures {
  const out: Array<readonly [string, number]> = [];
  for (const match of source.matchAll(/\(\?(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')/g)) {
    const name = match[1] ?? match[2]!;
    defineSetVariable(registry, name.toLowerCase(), node);
    out.push([name, registry.indexOf(name, placeOf(node))]);
  }
  return out;
}
