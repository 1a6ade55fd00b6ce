/**
 * Loading the native tunnel: not built is no failure (the TypeScript tunnel is used, silently); a file
 * that is there but cannot be loaded (a build for another Node.js or machine, a truncated copy) is
 * named with the reason, for the warning a serving process logs at start; the addon built by
 * `npm install`, where there is one, loads with its three functions.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadAddon } from "../../src/proxy/native-tunnel.js";

test("no addon built: nothing loaded, no failure to report", () => {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-native-"));
  try {
    assert.deepEqual(loadAddon(join(dir, "wsgate_tunnel.node")), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an addon that cannot be loaded: no addon, and the reason named", () => {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-native-"));
  const path = join(dir, "wsgate_tunnel.node");
  try {
    writeFileSync(path, "not a shared object\n");
    const loaded = loadAddon(path);
    assert.equal(loaded.addon, undefined);
    assert.match(
      loaded.failure ?? "",
      new RegExp(
        `^the native tunnel ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} could not be loaded \\(.+\\), the TypeScript tunnel is used$`,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const built = fileURLToPath(new URL("../../../build/Release/wsgate_tunnel.node", import.meta.url));

test(
  "the addon npm install built loads with init, start and destroy",
  { skip: !existsSync(built) && "no compiler: not built" },
  () => {
    const loaded = loadAddon(built);
    assert.equal(loaded.failure, undefined);
    for (const name of ["init", "start", "destroy"] as const)
      assert.equal(typeof loaded.addon?.[name], "function", name);
  },
);
