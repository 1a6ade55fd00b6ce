/**
 * wsgate's WebSocket directives as the loader reads them: off by default,
 * inherited from http to server to location as nginx inherits, the rate read
 * as limit_req_zone's rate= and limit_req's burst= (with their refusals), and
 * nginx's messages for bad values, duplicates, argument counts and contexts,
 * with file:line. Then what a location's tunnels do with them
 * (tunnelOptionsFor): the features, and frames followed where an access log
 * prints a $wsgate_ variable.
 */

import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config, LocConf } from "../../src/config/model.js";
import { NO_TUNNEL_MAIN, tunnelOptionsFor } from "../../src/proxy/tunnel-options.js";

const dir = mkdtempSync(join(tmpdir(), "wsgate-websocket-conf-"));
let counter = 0;

function write(http: string): string {
  const file = join(dir, `nginx${++counter}.conf`);
  writeFileSync(file, `events {}\nhttp {\n${http}\n}\n`);
  return file;
}

async function load(http: string): Promise<Config> {
  return loadConfig({ prefix: dir, confFile: write(http) });
}

async function loadError(http: string): Promise<string> {
  const file = write(http);
  try {
    await loadConfig({ prefix: dir, confFile: file });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.replace(file, "FILE");
  }
  assert.fail("the configuration loaded");
}

const locs = (config: Config): LocConf[] => config.http!.servers[0]!.locations.map((location) => location.loc);

after(() => rmSync(dir, { recursive: true, force: true }));

describe("wsgate_ping, wsgate_max_message, wsgate_message_rate", () => {
  test("off by default", async () => {
    const [loc] = locs(await load("server { listen 127.0.0.1:1; location / { } }"));
    assert.equal(loc!.wsgatePing, false);
    assert.equal(loc!.wsgateMaxMessage, 0);
    assert.equal(loc!.wsgateMessageRate, false);
  });

  test("values, inherited from the outer levels; a level that sets one replaces it", async () => {
    const [a, b, c] = locs(
      await load(`wsgate_ping 30s;
        wsgate_message_rate 300r/m burst=20;
        server {
          listen 127.0.0.1:1;
          wsgate_max_message 64k;
          location /a { }
          location /b { wsgate_ping 10s 5s; wsgate_message_rate 5r/s; wsgate_max_message 1m; }
          location /c { wsgate_ping off; wsgate_message_rate 7; }
        }`),
    );
    assert.deepEqual(a!.wsgatePing, { intervalMs: 30_000, timeoutMs: 30_000 });
    assert.deepEqual(a!.wsgateMessageRate, { rate: 5000, burst: 20_000 });
    assert.equal(a!.wsgateMaxMessage, 65_536);
    assert.deepEqual(b!.wsgatePing, { intervalMs: 10_000, timeoutMs: 5000 });
    assert.deepEqual(b!.wsgateMessageRate, { rate: 5000, burst: 0 });
    assert.equal(b!.wsgateMaxMessage, 1_048_576);
    assert.equal(c!.wsgatePing, false);
    assert.deepEqual(c!.wsgateMessageRate, { rate: 7000, burst: 0 }, "a bare number is requests a second");
    assert.equal(c!.wsgateMaxMessage, 65_536);
  });

  const errors: Array<[string, string]> = [
    ["wsgate_ping soon;", `"wsgate_ping" directive invalid value in FILE:3`],
    ["wsgate_ping 0;", `"wsgate_ping" directive invalid value in FILE:3`],
    ["wsgate_ping 10s 0;", `"wsgate_ping" directive invalid value in FILE:3`],
    ["wsgate_ping off 5s;", `invalid parameter "5s" in FILE:3`],
    ["wsgate_ping 1s 2s 3s;", `invalid number of arguments in "wsgate_ping" directive in FILE:3`],
    ["wsgate_ping;", `invalid number of arguments in "wsgate_ping" directive in FILE:3`],
    ["wsgate_ping 1s;\nwsgate_ping 2s;", `"wsgate_ping" directive is duplicate in FILE:4`],
    ["wsgate_max_message 1x;", `"wsgate_max_message" directive invalid value in FILE:3`],
    ["wsgate_max_message 1k 2k;", `invalid number of arguments in "wsgate_max_message" directive in FILE:3`],
    ["wsgate_max_message 1k;\nwsgate_max_message 1k;", `"wsgate_max_message" directive is duplicate in FILE:4`],
    ["wsgate_message_rate 0r/s;", `invalid rate "0r/s" in FILE:3`],
    ["wsgate_message_rate 5r/h;", `invalid rate "5r/h" in FILE:3`],
    ["wsgate_message_rate -5r/s;", `invalid rate "-5r/s" in FILE:3`],
    ["wsgate_message_rate r/s;", `invalid rate "r/s" in FILE:3`],
    ["wsgate_message_rate 5r/s burst=0;", `invalid burst value "burst=0" in FILE:3`],
    ["wsgate_message_rate 5r/s burst=x;", `invalid burst value "burst=x" in FILE:3`],
    ["wsgate_message_rate 5r/s nodelay;", `invalid parameter "nodelay" in FILE:3`],
    [
      "wsgate_message_rate 5r/s burst=1 nodelay;",
      `invalid number of arguments in "wsgate_message_rate" directive in FILE:3`,
    ],
    ["wsgate_message_rate 1r/s;\nwsgate_message_rate 1r/s;", `"wsgate_message_rate" directive is duplicate in FILE:4`],
    [
      "server { location / { if ($arg_x) { wsgate_ping 1s; } } }",
      `"wsgate_ping" directive is not allowed here in FILE:3`,
    ],
  ];
  for (const [text, expected] of errors) {
    test(`refused: ${text.replace(/\n/g, " ")}`, async () => {
      assert.equal(await loadError(text), expected);
    });
  }

  test("not allowed in the main context", async () => {
    const file = join(dir, `nginx${++counter}.conf`);
    writeFileSync(file, "wsgate_max_message 1k;\nevents {}\n");
    await assert.rejects(loadConfig({ prefix: dir, confFile: file }), {
      message: `"wsgate_max_message" directive is not allowed here in ${file}:1`,
    });
  });
});

describe("the tunnel options of a location", () => {
  test("features named only when on, with the protocol checks; frames followed for them and for logged $wsgate_ variables", async () => {
    const [plain, pinged, limited, logged, unlogged] = locs(
      await load(`log_format counts '$remote_addr $wsgate_messages_from_client';
        log_format other '$remote_addr $status';
        server {
          listen 127.0.0.1:1;
          location /plain { }
          location /pinged { wsgate_ping 20s 5s; }
          location /limited { wsgate_max_message 4k; wsgate_message_rate 10r/s burst=5; }
          location /logged { access_log ${dir}/a.log counts; }
          location /unlogged { access_log ${dir}/b.log other; }
        }`),
    );
    const base = { idleTimeoutMs: 60_000, clientSendTimeoutMs: 60_000, upstreamSendTimeoutMs: 60_000 };
    assert.deepEqual(tunnelOptionsFor(plain!, NO_TUNNEL_MAIN), { ...base, followFrames: false });
    assert.deepEqual(tunnelOptionsFor(pinged!, NO_TUNNEL_MAIN), {
      ...base,
      followFrames: true,
      checks: true,
      ping: { intervalMs: 20_000, timeoutMs: 5000 },
    });
    assert.deepEqual(tunnelOptionsFor(limited!, NO_TUNNEL_MAIN), {
      ...base,
      followFrames: true,
      checks: true,
      maxMessage: 4096,
      messageRate: { rate: 10_000, burst: 5000 },
    });
    assert.deepEqual(tunnelOptionsFor(logged!, NO_TUNNEL_MAIN), { ...base, followFrames: true });
    assert.deepEqual(tunnelOptionsFor(unlogged!, NO_TUNNEL_MAIN), { ...base, followFrames: false });
  });
});
