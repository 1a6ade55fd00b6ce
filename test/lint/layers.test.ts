/**
 * The layer check of `npm run lint` (.dependency-cruiser.mjs) refuses what it
 * is there to refuse: run on a small tree shaped like src/, with the project's
 * own configuration, it passes a downward import and fails an upward one and
 * a cycle between two files of one folder.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../support/proxy.js";
import { makeTempDir, removeTempDir } from "../support/config-files.js";

const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");

function cruise(tree: string, files: Readonly<Record<string, string>>): { status: number | null; output: string } {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(tree, path, ".."), { recursive: true });
    writeFileSync(join(tree, path), text);
  }
  const run = spawnSync(DEPCRUISE, ["src", "--config", ".dependency-cruiser.mjs"], {
    cwd: tree,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("the layer check", () => {
  let tree: string;

  before(() => {
    tree = makeTempDir("wsgate-layers-");
    copyFileSync(join(ROOT, ".dependency-cruiser.mjs"), join(tree, ".dependency-cruiser.mjs"));
    writeFileSync(
      join(tree, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true } }),
    );
    writeFileSync(join(tree, "package.json"), JSON.stringify({ type: "module" }));
  });

  after(() => removeTempDir(tree));

  test("a layer importing one below passes", () => {
    const run = cruise(tree, {
      "src/core/errors.ts": "export const E = 1;\n",
      "src/http/server.ts": 'import { E } from "../core/errors.js";\nexport const S = E;\n',
    });
    assert.equal(run.status, 0, run.output);
  });

  test("a layer importing one above fails, naming the rule", () => {
    const run = cruise(tree, {
      "src/vars/registry.ts": 'import { S } from "../http/server.js";\nexport const R = S;\n',
    });
    assert.notEqual(run.status, 0);
    assert.match(run.output, /layer-vars: src\/vars\/registry\.ts → src\/http\/server\.ts/);
    writeFileSync(join(tree, "src/vars/registry.ts"), "export const R = 1;\n");
  });

  test("a runtime cycle between two files fails; a type-only one does not count", () => {
    const typeOnly = cruise(tree, {
      "src/http/a.ts": 'import type { B } from "./b.js";\nexport type A = B;\nexport const a = 1;\n',
      "src/http/b.ts": 'import { a } from "./a.js";\nexport type B = number;\nexport const b = a;\n',
    });
    assert.equal(typeOnly.status, 0, typeOnly.output);
    const cycle = cruise(tree, {
      "src/http/a.ts": 'import { b } from "./b.js";\nexport const a = 1;\nexport const c = b;\n',
    });
    assert.notEqual(cycle.status, 0);
    assert.match(cycle.output, /no-circular/);
  });
});
