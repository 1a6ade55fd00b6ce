/**
 * PCRE patterns run by JavaScript's engine (src/config/pcre.ts): each pattern
 * is checked for what it matches, as PCRE matches it, and the constructs
 * JavaScript lacks are refused by name at load time (nginx accepts them: a
 * documented difference), with the place of the directive.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { translatePcre, UnsupportedRegex } from "../../src/config/pcre.js";
import { pcreRegex } from "../../src/config/regex.js";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/core/errors.js";
import { withTempDir, writeTree } from "../support/config-files.js";

/** [pattern, caseless, subjects it matches, subjects it does not]. */
const MATCHES: ReadonlyArray<readonly [string, boolean, readonly string[], readonly string[]]> = [
  ["(?i)^/abc", false, ["/ABC", "/abc/x"], ["/ab"]],
  ["(?-i)^/abc", true, ["/abc"], ["/ABC"]],
  ["^(?i)/abc", false, ["/ABC"], ["x/abc"]],
  ["(?i:^/abc)", true, ["/ABC"], ["/xyz"]],
  ["(?s)^a.b$", false, ["a\nb"], ["ab"]],
  ["^a.b$", false, ["a\rb", "axb"], ["a\nb"]],
  ["\\.php$", false, ["/x.php", "/x.php\n"], ["/x.php\nx", "/x.phpx"]],
  ["\\.php\\z", false, ["/x.php"], ["/x.php\n"]],
  ["\\Aab\\Z", false, ["ab", "ab\n"], ["xab"]],
  ["^(\\p{N}+)\\.num$", false, ["123.num", "0.num"], ["x.num"]],
  ["^\\P{L}+$", false, ["123"], ["a1"]],
  ["^[[:alpha:]_]+[[:digit:]]$", false, ["ab_1"], ["ab"]],
  ["^\\Qa.b\\E$", false, ["a.b"], ["axb"]],
  ["^a{$", false, ["a{"], ["a"]],
  ["^a{2}$", false, ["aa"], ["a{2}"]],
  ["^x\\-y$", false, ["x-y"], ["xy"]],
  ["^[]a]+$", false, ["]a]"], ["b"]],
  ["^\\x{41}\\h\\e", false, ["A \x1b", "A\t\x1b"], ["A"]],
  ["^(?P<a>x)(?P=a)$", false, ["xx"], ["xy"]],
  ["^(?'q'y)\\k{q}\\g{1}$", false, ["yyy"], ["yy"]],
  ["^a(?#comment)b$", false, ["ab"], ["a"]],
];

const REFUSED: ReadonlyArray<readonly [string, string]> = [
  ["(?>ab)", 'an atomic group "(?>…)"'],
  ["a++b", "a possessive quantifier"],
  ["a{2,}+", "a possessive quantifier"],
  ["x(?i)y", "options set inside the pattern"],
  ["(?i:a)b", "options set inside the pattern"],
  ["(?|(a)|(b))", 'a branch reset "(?|…)"'],
  ["(a)(?1)", "a recursion or subroutine call"],
  ["(?(1)a|b)", "a conditional group"],
  ["(*UTF)a", 'the verb "(*UTF)"'],
  ["(?x)a b", 'the option "(?x)"'],
  ["a\\Kb", "\\K"],
];

describe("PCRE patterns under JavaScript's engine", () => {
  for (const [pattern, caseless, yes, no] of MATCHES) {
    test(`${pattern}${caseless ? " (caseless)" : ""}`, () => {
      const regex = pcreRegex(pattern, caseless);
      for (const subject of yes) assert.ok(regex.test(subject), `${JSON.stringify(subject)} should match`);
      for (const subject of no) assert.ok(!regex.test(subject), `${JSON.stringify(subject)} should not match`);
    });
  }

  for (const [pattern, what] of REFUSED) {
    test(`refused: ${pattern}`, () => {
      assert.throws(
        () => translatePcre(pattern, false),
        (err: unknown) =>
          err instanceof UnsupportedRegex &&
          err.message === `${what} in "${pattern}" cannot be run by wsgate's regex engine`,
      );
    });
  }

  test("a refusal at load time names the directive's place; PCRE's own errors keep pcre2_compile()'s words", async () => {
    await withTempDir(async (prefix) => {
      const load = async (line: string): Promise<string> => {
        writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n    server {\n        ${line}\n    }\n}\n` });
        try {
          await loadConfig({ prefix, confFile: join(prefix, "nginx.conf") });
        } catch (err) {
          if (err instanceof ConfigError) return err.message;
          throw err;
        }
        return "accepted";
      };
      const file = join(prefix, "nginx.conf");
      assert.equal(
        await load("location ~ (?>a) { }"),
        `an atomic group "(?>…)" in "(?>a)" cannot be run by wsgate's regex engine in ${file}:4`,
      );
      assert.equal(
        await load("location ~ (a { }"),
        `pcre2_compile() failed: missing closing parenthesis in "(a" in ${file}:4`,
      );
      assert.equal(await load(`location ~ "(?i)^/A" { if ($uri ~ (?i)^/b) { return 204; } }`), "accepted");
      assert.equal(await load("rewrite (?i)^/old /new;"), "accepted");
    });
  });
});
