/**
 * The upstream directives' refusals, in nginx's words and places, checked
 * against nginx -t on the same file where nginx is installed; and what the
 * accepted ones record.
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
  root = makeTempDir("upstream-config");
});
after(() => removeTempDir(root));

function confText(upstream: string, location = ""): string {
  return (
    `events {}\nhttp {\n  upstream u {\n    ${upstream.split("\n").join("\n    ")}\n  }\n` +
    `  server {\n    listen 127.0.0.1:18080;\n    location / {\n      proxy_pass http://u;\n      ${location}\n    }\n  }\n}\n`
  );
}

async function load(text: string): Promise<{ config?: Config; error?: ConfigError; prefix: string; file: string }> {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, { "conf/nginx.conf": text });
  const file = join(prefix, "conf/nginx.conf");
  try {
    return { config: await loadConfig({ prefix, confFile: file }), prefix, file };
  } catch (err) {
    if (err instanceof ConfigError) return { error: err, prefix, file };
    throw err;
  }
}

/** wsgate refuses with `message` at `line`, and nginx -t (when installed) says the same. */
async function refuses(text: string, message: string, line: number): Promise<void> {
  const { error, prefix, file } = await load(text);
  assert.ok(error, `expected "${message}"`);
  assert.equal(error.message, `${message} in ${file}:${line}`);
  const nginx = nginxTest({ prefix, confFile: file });
  if (nginx) assert.equal(nginx.emerg, error.message, nginx.stderr);
}

/** Both accept it. */
async function accepts(text: string): Promise<Config> {
  const { config, error, prefix, file } = await load(text);
  assert.ok(config, error?.message);
  const nginx = nginxTest({ prefix, confFile: file });
  if (nginx) assert.equal(nginx.status, 0, nginx.stderr);
  return config;
}

describe("upstream directives: refusals as nginx words them", () => {
  test("backup with hash or ip_hash", async () => {
    const message = `balancing method does not support parameter "backup"`;
    await refuses(confText("ip_hash;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2 backup;"), message, 6);
    await refuses(confText("hash $uri;\nserver 127.0.0.1:1 backup;"), message, 5);
    await refuses(confText("hash $uri consistent;\nserver 127.0.0.1:2 backup;"), message, 5);
  });

  test("only backups", async () => {
    await refuses(confText("server 127.0.0.1:1 backup;"), `no servers in upstream "u"`, 3);
  });

  test("hash with a second word other than consistent; arguments of ip_hash and least_conn", async () => {
    await refuses(confText("hash $uri sometimes;\nserver 127.0.0.1:1;"), `invalid parameter "sometimes"`, 4);
    await refuses(
      confText("server 127.0.0.1:1;\nip_hash on;"),
      `invalid number of arguments in "ip_hash" directive`,
      5,
    );
    await refuses(
      confText("server 127.0.0.1:1;\nleast_conn x;"),
      `invalid number of arguments in "least_conn" directive`,
      5,
    );
  });

  test("keepalive and its settings", async () => {
    await refuses(confText("server 127.0.0.1:1;\nkeepalive 0;"), `invalid value "0" in "keepalive" directive`, 5);
    await refuses(confText("server 127.0.0.1:1;\nkeepalive many;"), `invalid value "many" in "keepalive" directive`, 5);
    await refuses(confText("server 127.0.0.1:1;\nkeepalive 2;\nkeepalive 3;"), `"keepalive" directive is duplicate`, 6);
    await refuses(
      confText("server 127.0.0.1:1;\nkeepalive_timeout 2x;"),
      `"keepalive_timeout" directive invalid value`,
      5,
    );
    await refuses(
      confText("server 127.0.0.1:1;\nkeepalive_requests x;"),
      `"keepalive_requests" directive invalid number`,
      5,
    );
    await refuses(
      confText("server 127.0.0.1:1;\nkeepalive_time 1h;\nkeepalive_time 2h;"),
      `"keepalive_time" directive is duplicate`,
      6,
    );
  });

  test("server parameters", async () => {
    await refuses(confText("server 127.0.0.1:1 max_conns=x;"), `invalid parameter "max_conns=x"`, 4);
    await refuses(confText("server 127.0.0.1:1 weight=0;"), `invalid parameter "weight=0"`, 4);
  });

  test("proxy_next_upstream and its limits", async () => {
    await refuses(
      confText("server 127.0.0.1:1;", "proxy_next_upstream error http_501;"),
      `invalid value "http_501"`,
      10,
    );
    await refuses(
      confText("server 127.0.0.1:1;", "proxy_next_upstream_tries x;"),
      `"proxy_next_upstream_tries" directive invalid number`,
      10,
    );
    await refuses(
      confText("server 127.0.0.1:1;", "proxy_next_upstream_timeout 1x;"),
      `"proxy_next_upstream_timeout" directive invalid value`,
      10,
    );
    await refuses(
      confText("server 127.0.0.1:1;", "proxy_next_upstream_tries 1; proxy_next_upstream_tries 2;"),
      `"proxy_next_upstream_tries" directive is duplicate`,
      10,
    );
  });
});

describe("upstream directives: what is recorded", () => {
  test("balancing methods, the last one written wins (nginx warns and redefines)", async () => {
    const config = await accepts(confText("least_conn;\nhash $arg_room consistent;\nserver 127.0.0.1:1;"));
    const balancing = config.http!.upstreams.get("u")!.balancing;
    assert.equal(balancing?.kind, "hash");
    assert.equal(balancing?.kind === "hash" && balancing.consistent, true);
    assert.equal(balancing?.kind === "hash" && balancing.key.source, "$arg_room");
  });

  test("keepalive with its settings", async () => {
    const config = await accepts(
      confText("server 127.0.0.1:1;\nkeepalive 8;\nkeepalive_requests 50;\nkeepalive_timeout 5s;\nkeepalive_time 10m;"),
    );
    const upstream = config.http!.upstreams.get("u")!;
    assert.deepEqual(upstream.keepalive, { max: 8, requests: 1000, timeMs: 3_600_000, timeoutMs: 60_000 });
    assert.deepEqual(upstream.keepaliveSettings, { requests: 50, timeoutMs: 5000, timeMs: 600_000 });
  });

  test("proxy_next_upstream: lines add up, off wins, and the default is error timeout", async () => {
    const config = await accepts(
      confText("server 127.0.0.1:1;", "proxy_next_upstream error; proxy_next_upstream http_502 non_idempotent;"),
    );
    const loc = config.http!.servers[0]!.locations[0]!.loc;
    assert.deepEqual([...loc.proxyNextUpstream].sort(), ["error", "http_502", "non_idempotent"]);
    const off = await accepts(confText("server 127.0.0.1:1;", "proxy_next_upstream off error;"));
    assert.deepEqual([...off.http!.servers[0]!.locations[0]!.loc.proxyNextUpstream], ["off"]);
    const plain = await accepts(confText("server 127.0.0.1:1;"));
    assert.deepEqual([...plain.http!.servers[0]!.locations[0]!.loc.proxyNextUpstream].sort(), ["error", "timeout"]);
  });
});

describe("wsgate_health_check and wsgate_upstream_status (wsgate's own)", () => {
  async function refusesOwn(text: string, message: string, line: number): Promise<void> {
    const { error, file } = await load(text);
    assert.ok(error, `expected "${message}"`);
    assert.equal(error.message, `${message} in ${file}:${line}`);
  }

  test("defaults and parameters", async () => {
    const { config } = await load(confText("server 127.0.0.1:1;\nwsgate_health_check;"));
    const { place: _place, ...defaults } = config!.http!.upstreams.get("u")!.healthCheck!;
    assert.deepEqual(defaults, { intervalMs: 5000, passes: 2, fails: 3, uri: "/", type: "http", timeoutMs: 2000 });
    const { config: set } = await load(
      confText(
        "server 127.0.0.1:1;\nwsgate_health_check interval=1s passes=1 fails=5 uri=/ping type=websocket timeout=300ms;",
      ),
    );
    const { place: _p, ...values } = set!.http!.upstreams.get("u")!.healthCheck!;
    assert.deepEqual(values, {
      intervalMs: 1000,
      passes: 1,
      fails: 5,
      uri: "/ping",
      type: "websocket",
      timeoutMs: 300,
    });
  });

  test("refusals", async () => {
    await refusesOwn(confText("server 127.0.0.1:1;\nwsgate_health_check every=1s;"), `invalid parameter "every=1s"`, 5);
    await refusesOwn(confText("server 127.0.0.1:1;\nwsgate_health_check fails=0;"), `invalid parameter "fails=0"`, 5);
    await refusesOwn(confText("server 127.0.0.1:1;\nwsgate_health_check type=tcp;"), `invalid parameter "type=tcp"`, 5);
    await refusesOwn(
      confText("server 127.0.0.1:1;\nwsgate_health_check uri=health;"),
      `invalid parameter "uri=health"`,
      5,
    );
    await refusesOwn(
      confText("server 127.0.0.1:1;\nwsgate_health_check;\nwsgate_health_check;"),
      `"wsgate_health_check" directive is duplicate`,
      6,
    );
    await refusesOwn(
      confText("server 127.0.0.1:1;", "wsgate_upstream_status on;"),
      `invalid number of arguments in "wsgate_upstream_status" directive`,
      10,
    );
  });
});
