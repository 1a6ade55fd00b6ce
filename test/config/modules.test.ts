/**
 * The configuration assembled from its modules (src/config/modules/index.ts):
 * each setting is one module's, every setting of a loaded level comes from a
 * module's defaults or the configuration, and the directive table is the
 * modules' rows.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import { DIRECTIVES } from "../../src/config/directives.js";
import { MODULES } from "../../src/config/modules/index.js";
import type { ConfModule } from "../../src/config/module.js";
import type { HttpBuild } from "../../src/config/build-scope.js";
import { prefixesFor } from "../../src/config/paths.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";

const modules: readonly ConfModule[] = MODULES;
let root: string;

before(() => {
  root = makeTempDir("config-modules");
});

after(() => {
  removeTempDir(root);
});

/** Each module's fields at one level, by the defaults it creates. */
function fieldsByModule(level: "main" | "srv" | "loc"): Map<string, string[]> {
  const prefixes = prefixesFor("/prefix", "conf/nginx.conf");
  const http = { logFormats: new Map([["combined", {}]]) } as unknown as HttpBuild;
  const fields = new Map<string, string[]>();
  for (const module of modules) {
    const slice =
      level === "main"
        ? module.createMain?.({ prefixes, defaultErrorLog: undefined })
        : level === "srv"
          ? module.createSrv?.()
          : module.createLoc?.({ prefixes, http });
    if (slice) fields.set(module.name, Object.keys(slice));
  }
  return fields;
}

describe("configuration modules", () => {
  test("no two modules own the same setting", () => {
    for (const level of ["main", "srv", "loc"] as const) {
      const owner = new Map<string, string>();
      for (const [module, fields] of fieldsByModule(level)) {
        for (const field of fields) {
          assert.equal(owner.get(field), undefined, `${level} ${field}: ${owner.get(field)} and ${module}`);
          owner.set(field, module);
        }
      }
    }
  });

  test("a loaded level holds exactly the modules' settings", async () => {
    const prefix = join(root, "loaded");
    writeTree(prefix, {
      "conf/nginx.conf": `events {}\nhttp {\n  server {\n    listen 127.0.0.1:8080;\n    location / { return 200; }\n  }\n}\n`,
      "logs/.keep": "",
    });
    const config = await loadConfig({ prefix, confFile: join(prefix, "conf/nginx.conf") });
    const server = config.http!.servers[0]!;
    const sorted = (level: "main" | "srv" | "loc"): string[] => [...fieldsByModule(level).values()].flat().sort();
    assert.deepEqual(Object.keys(config.main).sort(), sorted("main"));
    assert.deepEqual(Object.keys(server.srv).sort(), sorted("srv"));
    assert.deepEqual(Object.keys(server.locations[0]!.loc).sort(), sorted("loc"));
    assert.deepEqual(Object.keys(config.http!.loc).sort(), sorted("loc"));
  });

  test("the directive table is the modules' rows, in module order", () => {
    const rows = modules.flatMap((module) => module.directives);
    assert.equal([...DIRECTIVES.values()].flat().length, rows.length);
    for (const [name, specs] of DIRECTIVES) {
      assert.deepEqual(
        specs,
        rows.filter((row) => row.name === name),
      );
    }
  });
});
