/**
 * Complex values (strings with variables): literals, $name, ${name}, regex
 * captures $1…$9, and nginx's messages for a bad variable name.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ComplexValue } from "../../src/vars/complex-value.js";
import { VariableRegistry } from "../../src/vars/registry.js";
import { ConfigError } from "../../src/core/errors.js";
import { fakeSource } from "./fake-source.js";

function registry(): VariableRegistry {
  const vars = new VariableRegistry();
  vars.define("a", () => "A");
  vars.define("b", () => "B");
  vars.define("ab", () => "AB");
  vars.define("missing", () => undefined);
  return vars;
}

/** Compile every text against one registry, link it, and evaluate each for one request. */
function evaluateAll(texts: readonly string[], captures?: readonly string[]): string[] {
  const vars = registry();
  const values = texts.map((text) => ComplexValue.compile(text, vars));
  vars.link();
  const r = fakeSource({ captures });
  return values.map((value) => value.evaluate(r));
}

function compileError(text: string): ConfigError {
  const vars = registry();
  try {
    ComplexValue.compile(text, vars, { file: "/etc/wsgate/nginx.conf", line: 7 });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError for ${JSON.stringify(text)}`);
    return err;
  }
  assert.fail(`${JSON.stringify(text)} compiled`);
}

describe("ComplexValue", () => {
  test("a literal is returned as written, the empty string too", () => {
    assert.deepEqual(evaluateAll(["plain text", "", "100% {braces}"]), ["plain text", "", "100% {braces}"]);
  });

  test("$name takes the longest run of letters, digits and _; other characters end it", () => {
    assert.deepEqual(evaluateAll(["$a-$b", "$a.$b", "$ab", "x$a/y", "$a$b"]), ["A-B", "A.B", "AB", "xA/y", "AB"]);
  });

  test("${name} delimits a name followed by name characters", () => {
    assert.deepEqual(evaluateAll(["${a}b", "${a}${b}c", "<${ab}>"]), ["Ab", "ABc", "<AB>"]);
  });

  test("names are case-insensitive", () => {
    assert.deepEqual(evaluateAll(["$A", "${B}", "$aB"]), ["A", "B", "AB"]);
  });

  test("a variable that is not found evaluates to the empty string", () => {
    assert.deepEqual(evaluateAll(["[$missing]", "$missing"]), ["[]", ""]);
  });

  test("$1…$9 are the captures of the last regex; one digit only; a missing one is empty", () => {
    const captures = ["whole", "one", "two"];
    assert.deepEqual(evaluateAll(["$1/$2", "$10", "$3", "[$9]"], captures), ["one/two", "one0", "", "[]"]);
    assert.deepEqual(evaluateAll(["$1"]), [""], "no regex matched yet");
  });

  test("each use takes an index at compile time; link() resolves them later", () => {
    const vars = new VariableRegistry();
    const value = ComplexValue.compile("$late!", vars);
    assert.deepEqual(vars.usedNames(), ["late"]);
    vars.define("late", () => "defined after its use");
    vars.link();
    assert.equal(value.evaluate(fakeSource()), "defined after its use!");
    assert.equal(value.source, "$late!");
  });

  test("nginx's message for a name that is missing: a trailing $, ${}, $ before a non-name character", () => {
    for (const text of ["x$", "${}", "$-x", "a $ b"]) {
      const err = compileError(text);
      assert.equal(err.detail, "invalid variable name", text);
      assert.equal(err.message, "invalid variable name in /etc/wsgate/nginx.conf:7");
    }
  });

  test("nginx's message for ${ without its closing bracket", () => {
    assert.equal(compileError("${ab").detail, `the closing bracket in "ab" variable is missing`);
    assert.equal(compileError("x${a-b}").detail, `the closing bracket in "a" variable is missing`);
  });
});
