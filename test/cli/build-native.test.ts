/**
 * The install step of the optional native tunnel (scripts/build-native.mjs):
 * where the build fails — here a compiler that fails, in a copy of the
 * sources so that the addon the other suites use stays — the install goes
 * on (exit 0) with one line saying the TypeScript tunnel will be used, and no
 * addon is left for wsgate to load.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/proxy.js";

const FALLBACK = /^wsgate: native tunnel not built; the TypeScript tunnel will be used( \(.+\))?$/;

function copyOfSources(): string {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-build-native-"));
  for (const path of ["binding.gyp", "native", join("scripts", "build-native.mjs")]) {
    cpSync(join(ROOT, path), join(dir, path), { recursive: true });
  }
  return dir;
}

function install(dir: string, env: NodeJS.ProcessEnv): { status: number | null; lines: string[] } {
  const run = spawnSync(process.execPath, [join(dir, "scripts", "build-native.mjs")], {
    cwd: dir,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: run.status, lines: `${run.stdout}${run.stderr}`.split("\n").filter((line) => line !== "") };
}

test("a build that fails does not fail the install: one line, exit 0, no addon", () => {
  const dir = copyOfSources();
  try {
    const { status, lines } = install(dir, { CC: "/bin/false", CXX: "/bin/false" });
    assert.equal(status, 0);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, FALLBACK);
    assert.equal(existsSync(join(dir, "build", "Release", "wsgate_tunnel.node")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WSGATE_NATIVE_TUNNEL=off at install skips the build and says so", () => {
  const dir = copyOfSources();
  try {
    const { status, lines } = install(dir, { WSGATE_NATIVE_TUNNEL: "off" });
    assert.equal(status, 0);
    assert.deepEqual(lines, [
      "wsgate: native tunnel not built; the TypeScript tunnel will be used (WSGATE_NATIVE_TUNNEL=off)",
    ]);
    assert.equal(existsSync(join(dir, "build")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
