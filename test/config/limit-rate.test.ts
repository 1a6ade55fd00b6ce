/**
 * limit_rate, limit_rate_after, proxy_limit_rate and reset_timedout_connection
 * in the configuration: refusals in nginx -t's words (compared with nginx
 * where 1.22 has the same rows), what each level inherits, and values with
 * variables (proxy_limit_rate takes them since nginx 1.27.0).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/model.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("limit-rate-config");
});
after(() => removeTempDir(root));

function setUp(http: string): { prefix: string; confFile: string } {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, { "conf/nginx.conf": `events {}\nhttp {\n${http}\n}\n` });
  return { prefix, confFile: join(prefix, "conf/nginx.conf") };
}

async function load(http: string): Promise<Config> {
  const { prefix, confFile } = setUp(http);
  return loadConfig({ prefix, confFile });
}

describe("limit_rate and reset_timedout_connection: refusals as nginx -t words them", () => {
  const cases: ReadonlyArray<readonly [string, string, number]> = [
    ["limit_rate abc;", `"limit_rate" directive invalid value`, 1],
    ["limit_rate 1x;", `"limit_rate" directive invalid value`, 1],
    ["limit_rate 1k;\nlimit_rate 2k;", `"limit_rate" directive is duplicate`, 2],
    ["limit_rate 1k 2k;", `invalid number of arguments in "limit_rate" directive`, 1],
    ["limit_rate_after -1;", `"limit_rate_after" directive invalid value`, 1],
    ["server { limit_rate_after 1m;\n limit_rate_after 1m; }", `"limit_rate_after" directive is duplicate`, 2],
    ["proxy_limit_rate 1q;", `"proxy_limit_rate" directive invalid value`, 1],
    ["proxy_limit_rate;", `invalid number of arguments in "proxy_limit_rate" directive`, 1],
    [
      "server { location / { if ($uri) { proxy_limit_rate 1k; } } }",
      `"proxy_limit_rate" directive is not allowed here`,
      1,
    ],
    ["server { if ($uri) { limit_rate 1k; } }", `"limit_rate" directive is not allowed here`, 1],
    [
      "reset_timedout_connection yes;",
      `invalid value "yes" in "reset_timedout_connection" directive, it must be "on" or "off"`,
      1,
    ],
    [
      "reset_timedout_connection on;\nreset_timedout_connection on;",
      `"reset_timedout_connection" directive is duplicate`,
      2,
    ],
    [
      "server { if ($uri) { reset_timedout_connection on; } }",
      `"reset_timedout_connection" directive is not allowed here`,
      1,
    ],
  ];
  for (const [http, message, line] of cases) {
    test(message + ` (${http.replaceAll("\n", " ")})`, async () => {
      const { prefix, confFile } = setUp(http);
      await assert.rejects(loadConfig({ prefix, confFile }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.message, `${message} in ${confFile}:${line + 2}`);
        const nginx = nginxTest({ prefix, confFile });
        if (nginx) assert.equal(err.message, nginx.emerg, nginx.stderr);
        return true;
      });
    });
  }

  test("an unknown variable in limit_rate", async () => {
    await assert.rejects(load("limit_rate $no_such_thing;"), /unknown "no_such_thing" variable/);
  });
});

describe("limit_rate and reset_timedout_connection: what each level gets", () => {
  test("accepted as nginx accepts them, inherited level by level", async () => {
    const http = [
      "limit_rate 100k; limit_rate_after 1m; proxy_limit_rate 2m; reset_timedout_connection on;",
      "server { listen 127.0.0.1:1;",
      "  location /a/ { }",
      "  location /b/ { limit_rate 0; reset_timedout_connection off; if ($arg_x) { limit_rate 5; limit_rate_after 6; } }",
      "  location /c/ { set $limit_rate 10k; limit_rate $arg_rate; }",
      "}",
    ].join("\n");
    const { prefix, confFile } = setUp(http);
    const nginx = nginxTest({ prefix, confFile });
    if (nginx) assert.equal(nginx.emerg, undefined, nginx.stderr);
    const config = await loadConfig({ prefix, confFile });
    const find = (path: string) => config.http!.servers[0]!.locations.find((l) => l.path === path)!.loc;
    const a = find("/a/");
    assert.deepEqual(
      [a.limitRate, a.limitRateAfter, a.proxyLimitRate, a.resetTimedoutConnection],
      [100 * 1024, 1024 * 1024, 2 * 1024 * 1024, true],
    );
    const b = find("/b/");
    assert.deepEqual([b.limitRate, b.limitRateAfter, b.resetTimedoutConnection], [0, 1024 * 1024, false]);
    assert.equal(typeof find("/c/").limitRate, "object", "a value with variables is kept to evaluate");
  });

  test("defaults: no limit, no reset", async () => {
    const config = await load("server { listen 127.0.0.1:1; }");
    const loc = config.http!.servers[0]!.loc;
    assert.deepEqual(
      [loc.limitRate, loc.limitRateAfter, loc.proxyLimitRate, loc.resetTimedoutConnection],
      [0, 0, 0, false],
    );
  });

  test("proxy_limit_rate takes variables (nginx 1.27.0 and later)", async () => {
    const config = await load("server { listen 127.0.0.1:1; proxy_limit_rate $arg_r; }");
    assert.equal(typeof config.http!.servers[0]!.loc.proxyLimitRate, "object");
  });
});
