/**
 * The README keeps its promises: every directive wsgate accepts is listed in
 * it, and its first lines give the two commands that `.ci/run` and a
 * newcomer run.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DIRECTIVES } from "../../src/config/directives.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const README = readFileSync(join(ROOT, "README.md"), "utf8");

test("every directive of the directive table is named in the README", () => {
  const missing = [...DIRECTIVES.keys()].filter(
    (name) => !README.includes(`\`${name}\``) && !README.includes(`\`${name} `),
  );
  assert.deepEqual(missing, []);
});

test("the README starts with the start and test commands, and .ci/run runs the test command", () => {
  const firstBlock = /^# wsgate\n\n```sh\n([^]*?)```/.exec(README);
  assert.ok(firstBlock, "a sh block right after the title");
  const commands = firstBlock[1]!.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
  assert.ok(commands.includes("npm install && npm start"));
  assert.ok(commands.includes("npm install && npm test"));
  const ci = readFileSync(join(ROOT, ".ci", "run"), "utf8");
  assert.match(ci, /set -euo pipefail/);
  assert.match(ci, /^npm install && npm test$/m);
});
