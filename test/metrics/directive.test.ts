/**
 * `wsgate_metrics;`: a location directive without arguments, refused twice,
 * elsewhere and with arguments in nginx's words; a configuration with it
 * makes every WebSocket tunnel follow frames (its messages are counted),
 * one without it keeps the plain pipe.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/model.js";
import { recordTunnelMain, tunnelMainFor, tunnelOptionsFor } from "../../src/proxy/tunnel-options.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";

let root: string;
let counter = 0;
before(() => {
  root = makeTempDir("metrics-config");
});
after(() => removeTempDir(root));

function confText(server: string): string {
  return `events {}\nhttp {\n  server {\n    listen 127.0.0.1:18080;\n${server}\n  }\n}\n`;
}

async function load(text: string): Promise<{ config?: Config; error?: ConfigError; file: string }> {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, { "conf/nginx.conf": text });
  const file = join(prefix, "conf/nginx.conf");
  try {
    return { config: await loadConfig({ prefix, confFile: file }), file };
  } catch (err) {
    if (err instanceof ConfigError) return { error: err, file };
    throw err;
  }
}

async function refuses(server: string, message: string, line: number): Promise<void> {
  const { error, file } = await load(confText(server));
  assert.ok(error, `expected "${message}"`);
  assert.equal(error.message, `${message} in ${file}:${line}`);
}

const PROXY = "location /ws { proxy_pass http://127.0.0.1:1; }";

describe("wsgate_metrics", () => {
  test("a location answers with the metrics", async () => {
    const { config } = await load(confText(`location = /metrics { wsgate_metrics; }\n${PROXY}`));
    const [metrics, ws] = config!.http!.servers[0]!.locations;
    assert.equal(metrics!.metrics, true);
    assert.equal(ws!.metrics, undefined);
  });

  test("refusals: twice, with an argument, outside a location", async () => {
    await refuses("location = /m { wsgate_metrics;\nwsgate_metrics; }", `"wsgate_metrics" directive is duplicate`, 6);
    await refuses(
      "location = /m { wsgate_metrics on; }",
      `invalid number of arguments in "wsgate_metrics" directive`,
      5,
    );
    await refuses("wsgate_metrics;", `"wsgate_metrics" directive is not allowed here`, 5);
  });

  test("with a metrics location (nested too) every WebSocket tunnel follows frames; without, the plain pipe", async () => {
    const nested = await load(confText(`location /admin/ { location = /admin/metrics { wsgate_metrics; } }\n${PROXY}`));
    recordTunnelMain(nested.config!);
    const server = nested.config!.http!.servers[0]!;
    assert.equal(tunnelMainFor(server).countsMessages, true);
    assert.equal(tunnelOptionsFor(server.locations[1]!.loc, tunnelMainFor(server)).followFrames, true);

    const plain = await load(confText(PROXY));
    recordTunnelMain(plain.config!);
    const plainServer = plain.config!.http!.servers[0]!;
    assert.equal(tunnelMainFor(plainServer).countsMessages, undefined);
    assert.equal(tunnelOptionsFor(plainServer.locations[0]!.loc, tunnelMainFor(plainServer)).followFrames, false);
  });
});
