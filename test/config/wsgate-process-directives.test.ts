/**
 * The process directives of the master/worker model as the loader reads them:
 * wsgate's own `wsgate_close_frames` and `wsgate_shutdown_drain` (off by
 * default; nginx's messages for bad values, duplicates and wrong contexts),
 * and `worker_processes auto`.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/model.js";
import { workerCount } from "../../src/process/master.js";

const dir = mkdtempSync(join(tmpdir(), "wsgate-process-conf-"));
let counter = 0;

async function load(text: string): Promise<{ config: Config; file: string }> {
  const file = join(dir, `nginx${++counter}.conf`);
  writeFileSync(file, text);
  return { config: await loadConfig({ prefix: dir, confFile: file }), file };
}

async function loadError(text: string): Promise<{ message: string; file: string }> {
  const file = join(dir, `nginx${++counter}.conf`);
  writeFileSync(file, text);
  try {
    await loadConfig({ prefix: dir, confFile: file });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { message: err.message, file };
  }
  assert.fail("the configuration loaded");
}

describe("process directives", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("defaults: no close frames, no drain; master_process on, one worker", async () => {
    const { config } = await load("events { }\n");
    assert.equal(config.main.wsgateCloseFrames, false);
    assert.equal(config.main.wsgateShutdownDrainMs, undefined);
    assert.equal(config.main.masterProcess, true);
    assert.equal(workerCount(config), 1);
  });

  test("values: on, a drain time, worker_processes auto is one per core", async () => {
    const { config } = await load(
      "wsgate_close_frames on;\nwsgate_shutdown_drain 1m30s;\nworker_processes auto;\nevents { }\n",
    );
    assert.equal(config.main.wsgateCloseFrames, true);
    assert.equal(config.main.wsgateShutdownDrainMs, 90_000);
    assert.equal(workerCount(config), availableParallelism());
    assert.equal(workerCount((await load("worker_processes 3;\nevents { }\n")).config), 3);
  });

  const errors: Array<[string, string, RegExp]> = [
    [
      "a flag that is neither on nor off",
      "events { }\nwsgate_close_frames yes;\n",
      /^invalid value "yes" in "wsgate_close_frames" directive, it must be "on" or "off" in \S+:2$/,
    ],
    [
      "a time that is not one",
      "events { }\nwsgate_shutdown_drain soon;\n",
      /^"wsgate_shutdown_drain" directive invalid value in \S+:2$/,
    ],
    [
      "a duplicate",
      "wsgate_shutdown_drain 1s;\nwsgate_shutdown_drain 2s;\nevents { }\n",
      /^"wsgate_shutdown_drain" directive is duplicate in \S+:2$/,
    ],
    [
      "no argument",
      "events { }\nwsgate_shutdown_drain;\n",
      /^invalid number of arguments in "wsgate_shutdown_drain" directive in \S+:2$/,
    ],
    [
      "inside http",
      "events { }\nhttp {\nwsgate_close_frames on;\n}\n",
      /^"wsgate_close_frames" directive is not allowed here in \S+:3$/,
    ],
    [
      "worker_processes not a number",
      "worker_processes many;\nevents { }\n",
      /^invalid value "many" in "worker_processes" directive in \S+:1$/,
    ],
  ];
  for (const [name, text, expected] of errors) {
    test(`refused: ${name}`, async () => {
      const { message, file } = await loadError(text);
      assert.match(message, expected);
      assert.ok(message.includes(file), message);
    });
  }
});
