/**
 * A tunnel's options come from its location: the location's three timeouts,
 * frames followed when the process ends tunnels with close frames; one value
 * per location, shared; the main level found through the request's server.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/model.js";
import { NO_TUNNEL_MAIN, recordTunnelMain, tunnelMainFor, tunnelOptionsFor } from "../../src/proxy/tunnel-options.js";

const dir = mkdtempSync(join(tmpdir(), "wsgate-tunnel-options-"));
let counter = 0;

async function load(main: string, server: string): Promise<Config> {
  const file = join(dir, `nginx${++counter}.conf`);
  writeFileSync(
    file,
    `${main}\nevents {}\nhttp {\n  proxy_read_timeout 50s;\n  server {\n    listen 127.0.0.1:1;\n${server}\n  }\n}\n`,
  );
  return loadConfig({ prefix: dir, confFile: file });
}

describe("tunnelOptionsFor", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("each location's timeouts, inherited as nginx inherits them; defaults of 60 s", async () => {
    const config = await load(
      "",
      `    location /a { send_timeout 3s; proxy_send_timeout 4s; proxy_pass http://127.0.0.1:2; }
    location /b { proxy_read_timeout 7s; proxy_pass http://127.0.0.1:2; }`,
    );
    const [a, b] = config.http!.servers[0]!.locations;
    const main = tunnelMainFor(config.http!.servers[0]!);
    assert.deepEqual(tunnelOptionsFor(a!.loc, main), {
      idleTimeoutMs: 50_000,
      clientSendTimeoutMs: 3000,
      upstreamSendTimeoutMs: 4000,
      followFrames: false,
    });
    assert.deepEqual(tunnelOptionsFor(b!.loc, main), {
      idleTimeoutMs: 7000,
      clientSendTimeoutMs: 60_000,
      upstreamSendTimeoutMs: 60_000,
      followFrames: false,
    });
    assert.equal(tunnelOptionsFor(a!.loc, main), tunnelOptionsFor(a!.loc, main), "one shared value per location");
  });

  for (const directive of ["wsgate_close_frames on;", "wsgate_shutdown_drain 5s;"]) {
    test(`${directive} makes the tunnels of every server follow frames, once the configuration is recorded`, async () => {
      const config = await load(directive, "    location / { proxy_pass http://127.0.0.1:2; }");
      const server = config.http!.servers[0]!;
      assert.equal(tunnelMainFor(server), NO_TUNNEL_MAIN, "nothing recorded yet");
      recordTunnelMain(config);
      assert.equal(tunnelMainFor(server).closeFrames, true);
      assert.equal(tunnelOptionsFor(server.locations[0]!.loc, tunnelMainFor(server)).followFrames, true);
    });
  }

  test("without them, no frames are followed", async () => {
    const config = await load("", "    location / { proxy_pass http://127.0.0.1:2; }");
    recordTunnelMain(config);
    const server = config.http!.servers[0]!;
    assert.equal(tunnelOptionsFor(server.locations[0]!.loc, tunnelMainFor(server)).followFrames, false);
  });
});
