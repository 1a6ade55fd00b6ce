/**
 * The static-file directives in the configuration: every refusal with
 * nginx -t's text for the same file, and what each level ends up with
 * (root and alias inherited together, index lists, try_files and stub_status
 * not inherited, defaults).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config, LocationConf } from "../../src/config/model.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { ROOT } from "../support/proxy.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("static-config");
});
after(() => removeTempDir(root));

function setUp(http: string): { prefix: string; confFile: string } {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, { "conf/nginx.conf": `events {}\nhttp {\n${http}\n}\n` });
  return { prefix, confFile: join(prefix, "conf/nginx.conf") };
}

async function load(http: string): Promise<{ config: Config; prefix: string }> {
  const { prefix, confFile } = setUp(http);
  return { config: await loadConfig({ prefix, confFile }), prefix };
}

/** wsgate refuses `http` with `message` on `line` (of the http text, 1-based), and nginx -t says the same. */
async function refused(http: string, message: string, line: number, nginxAgrees = true): Promise<void> {
  const { prefix, confFile } = setUp(http);
  let caught: unknown;
  try {
    await loadConfig({ prefix, confFile });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.message, `${message} in ${confFile}:${line + 2}`);
  const nginx = nginxTest({ prefix, confFile });
  if (!nginx) return;
  if (nginxAgrees) assert.equal(caught.message, nginx.emerg, `nginx said: ${nginx.stderr}`);
  else assert.equal(nginx.emerg, undefined, `nginx refused it too: ${nginx.stderr}`);
}

function location(config: Config, path: string): LocationConf {
  const found = config.http!.servers[0]!.locations.find((l) => l.path === path);
  assert.ok(found, `location ${path}`);
  return found;
}

describe("static-file directives: refusals as nginx -t words them", () => {
  const cases: ReadonlyArray<readonly [string, string, number]> = [
    ["server { root a; root b; }", `"root" directive is duplicate`, 1],
    [
      "server {\n location / { root a; alias b; } }",
      `"alias" directive is duplicate, "root" directive was specified earlier`,
      2,
    ],
    ["server { location / { alias a; alias b; } }", `"alias" directive is duplicate`, 1],
    ["server { location @x { alias a; } }", `the "alias" directive cannot be used inside the named location`, 1],
    ["server { root $document_root; }", `the $document_root variable cannot be used in the "root" directive`, 1],
    [
      "server { location / { alias /x/${realpath_root}; } }",
      `the $realpath_root variable cannot be used in the "alias" directive`,
      1,
    ],
    ["alias /x;", `"alias" directive is not allowed here`, 1],
    ["server { try_files a; }", `invalid number of arguments in "try_files" directive`, 1],
    ["server { try_files a =abc; }", `invalid code "=abc"`, 1],
    ["server { try_files a =1000; }", `invalid code "=1000"`, 1],
    ["server { try_files a =; }", `invalid code "="`, 1],
    ["server { try_files a b;\n try_files c d; }", `"try_files" directive is duplicate`, 2],
    ["try_files a b;", `"try_files" directive is not allowed here`, 1],
    ['server { index ""; }', `index "" in "index" directive is invalid`, 1],
    ['server { index a ""; }', `index "a" in "index" directive is invalid`, 1],
    ["autoindex x;", `invalid value "x" in "autoindex" directive, it must be "on" or "off"`, 1],
    ["if_modified_since x;", `invalid value "x"`, 1],
    ["max_ranges x;", `"max_ranges" directive invalid number`, 1],
    ["max_ranges -1;", `"max_ranges" directive invalid number`, 1],
    ["etag maybe;", `invalid value "maybe" in "etag" directive, it must be "on" or "off"`, 1],
    ["etag on;\netag off;", `"etag" directive is duplicate`, 2],
    ["server { stub_status a b; }", `invalid number of arguments in "stub_status" directive`, 1],
    ["stub_status;", `"stub_status" directive is not allowed here`, 1],
    ["root $undefined_thing;", `unknown "undefined_thing" variable`, 1],
    ["autoindex_format yaml;", `invalid value "yaml"`, 1],
    ["autoindex_format html json;", `invalid number of arguments in "autoindex_format" directive`, 1],
    ["autoindex_format json;\nautoindex_format xml;", `"autoindex_format" directive is duplicate`, 2],
    ["autoindex on;\nautoindex off;", `"autoindex" directive is duplicate`, 2],
    ["autoindex_exact_size 1;", `invalid value "1" in "autoindex_exact_size" directive, it must be "on" or "off"`, 1],
    ["autoindex_localtime x;", `invalid value "x" in "autoindex_localtime" directive, it must be "on" or "off"`, 1],
    ["server { if ($uri) { autoindex on; } }", `"autoindex" directive is not allowed here`, 1],
  ];
  for (const [http, message, line] of cases) {
    test(message, async () => {
      if (message.startsWith("unknown")) {
        // nginx reports an unknown variable without a place.
        const { prefix, confFile } = setUp(http);
        await assert.rejects(loadConfig({ prefix, confFile }), (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.message, message);
          return true;
        });
        return;
      }
      await refused(http, message, line);
    });
  }

  test("autoindex and its settings inherit level by level, with nginx's defaults", async () => {
    const { config } = await load(
      "autoindex_format json; autoindex_localtime on;\nserver { listen 127.0.0.1:1; autoindex on;\n" +
        " location / { } location /x/ { autoindex off; autoindex_format xml; autoindex_exact_size off; } }",
    );
    const plain = location(config, "/").loc;
    assert.deepEqual(
      [plain.autoindex, plain.autoindexFormat, plain.autoindexExactSize, plain.autoindexLocaltime],
      [true, "json", true, true],
    );
    const x = location(config, "/x/").loc;
    assert.deepEqual([x.autoindex, x.autoindexFormat, x.autoindexExactSize], [false, "xml", false]);
    const { config: bare } = await load("server { listen 127.0.0.1:1; location / { } }");
    const loc = location(bare, "/").loc;
    assert.deepEqual(
      [loc.autoindex, loc.autoindexFormat, loc.autoindexExactSize, loc.autoindexLocaltime],
      [false, "html", true, false],
    );
  });
});

describe("static-file directives: what each level gets", () => {
  test("defaults: root html under the prefix, index.html, etag, exact If-Modified-Since, redirects absolute", async () => {
    const { config, prefix } = await load("server { listen 127.0.0.1:1; location / { } }");
    const loc = location(config, "/").loc;
    assert.deepEqual(loc.root, { alias: 0, path: join(prefix, "html"), prefix });
    assert.deepEqual(
      loc.index.map((i) => i.name),
      ["index.html"],
    );
    assert.equal(loc.etag, true);
    assert.equal(loc.ifModifiedSince, "exact");
    assert.equal(loc.maxRanges, 0x7fffffff);
    assert.equal(loc.logNotFound, true);
    assert.equal(loc.absoluteRedirect, true);
    assert.equal(loc.portInRedirect, true);
    assert.equal(loc.serverNameInRedirect, false);
  });

  test("root: relative to the prefix, trailing slash dropped, inherited; alias inherited with it", async () => {
    const { config, prefix } = await load(
      "root www/; server { listen 127.0.0.1:1; location /a/ { alias /data/; location /a/b/ { } } location /c/ { } }",
    );
    assert.equal(location(config, "/c/").loc.root.path, join(prefix, "www"));
    const a = location(config, "/a/");
    assert.deepEqual(a.loc.root, { alias: 3, path: "/data/", prefix });
    assert.deepEqual(a.locations[0]!.loc.root, a.loc.root);
  });

  test("alias in a regex location is the whole path; root with variables is evaluated per request", async () => {
    const { config } = await load(
      "server { listen 127.0.0.1:1; location ~ ^/r/(.*)$ { alias /d/$1; } location /v/ { root /srv/$host; } }",
    );
    const regex = location(config, "^/r/(.*)$").loc.root;
    assert.equal(regex.alias, "regex");
    assert.notEqual(typeof regex.path, "string");
    assert.notEqual(typeof location(config, "/v/").loc.root.path, "string");
  });

  test("index: names add up within a level, a level with its own replaces", async () => {
    const { config } = await load(
      "index a.html; index b.html c.html; server { listen 127.0.0.1:1; location /x/ { } location /y/ { index $arg_i; } }",
    );
    assert.deepEqual(
      location(config, "/x/").loc.index.map((i) => i.name),
      ["a.html", "b.html", "c.html"],
    );
    const y = location(config, "/y/").loc.index;
    assert.deepEqual(
      y.map((i) => i.name),
      ["$arg_i"],
    );
    assert.ok(y[0]!.value);
  });

  test("try_files and stub_status are not inherited", async () => {
    const { config } = await load(
      "server { listen 127.0.0.1:1; try_files $uri =404; stub_status; location /a/ { try_files $uri/ /x; location /a/b/ { } } location /c/ { } }",
    );
    const server = config.http!.servers[0]!;
    assert.equal(server.tryFiles?.candidates.length, 1);
    assert.deepEqual(server.tryFiles?.fallback, { code: 404 });
    assert.equal(server.stubStatus, true);
    const a = location(config, "/a/");
    assert.equal(a.tryFiles?.candidates[0]?.testDir, true);
    assert.equal(a.locations[0]!.tryFiles, undefined);
    assert.equal(location(config, "/c/").tryFiles, undefined);
    assert.equal(location(config, "/c/").stubStatus, undefined);
  });

  test("accepted as nginx accepts them: sendfile, tcp_nopush, autoindex off, include mime.types", async () => {
    const { config } = await load(
      `include ${join(ROOT, "conf", "mime.types")}; sendfile on; tcp_nopush on; autoindex off; server { listen 127.0.0.1:1; }`,
    );
    const loc = config.http!.servers[0]!.loc;
    assert.equal(loc.sendfile, true);
    assert.equal(loc.tcpNopush, true);
    assert.equal(loc.types.get("css"), "text/css");
    assert.equal(loc.types.get("mp4"), "video/mp4");
  });
});
