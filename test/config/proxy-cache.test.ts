/**
 * The proxy cache directives without a cache: `proxy_cache off`,
 * `proxy_cache_bypass`, `proxy_no_cache` accepted with nginx's argument rules
 * and errors (checked against nginx -t); `proxy_cache ZONE` refused by name
 * until wsgate has a cache.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { testBoth, type BothVerdicts } from "../support/test-both.js";

let prefix: string;
let counter = 0;

before(() => {
  prefix = makeTempDir("proxy-cache");
  writeTree(prefix, { "logs/.keep": "" });
});

after(() => {
  removeTempDir(prefix);
});

/** A file with `http` lines in the http block and `server` lines in a server; wsgate -t's and nginx -t's [emerg]. */
function check(http: string, server: string): Promise<BothVerdicts> {
  return testBoth(
    prefix,
    `t${++counter}.conf`,
    `events {}\nhttp {\n${http}\nserver {\nlisten 127.0.0.1:1;\n${server}\n}\n}\n`,
  );
}

describe("proxy cache directives without a cache", () => {
  test("accepted as nginx accepts them", async () => {
    const cases: Array<[string, string]> = [
      ["proxy_cache off;", ""],
      ["", "proxy_cache_bypass $cookie_nocache $arg_nocache;"],
      ["proxy_no_cache $http_pragma $http_authorization;", "proxy_no_cache 1;\nproxy_no_cache 2;"],
      [
        "upstream u { server 127.0.0.1:1; }",
        "location / { proxy_cache off; proxy_cache_bypass 1; proxy_no_cache $arg_x; proxy_pass http://u; }",
      ],
    ];
    for (const [http, server] of cases) {
      const result = await check(http, server);
      assert.equal(result.code, 0, `${http} ${server}: ${result.emerg}`);
      if (result.nginx) assert.equal(result.nginx.status, 0, result.nginx.stderr);
    }
  });

  test("refused with nginx's words", async () => {
    const cases: Array<[string, string, string]> = [
      ["proxy_cache off; proxy_cache off;", "", `"proxy_cache" directive is duplicate in FILE:3`],
      ["proxy_cache;", "", `invalid number of arguments in "proxy_cache" directive in FILE:3`],
      ["proxy_cache off on;", "", `invalid number of arguments in "proxy_cache" directive in FILE:3`],
      ["", "proxy_no_cache;", `invalid number of arguments in "proxy_no_cache" directive in FILE:6`],
      ["", "proxy_cache_bypass;", `invalid number of arguments in "proxy_cache_bypass" directive in FILE:6`],
      ["", "proxy_no_cache $nosuch;", `unknown "nosuch" variable`],
      ["", 'location / { proxy_cache_bypass "a$"; }', `invalid variable name in FILE:6`],
      ["", 'proxy_cache_bypass "${x";', `the closing bracket in "x" variable is missing in FILE:6`],
      [
        "",
        "location / { if ($host) { proxy_no_cache 1; } }",
        `"proxy_no_cache" directive is not allowed here in FILE:6`,
      ],
      ["", "location / { if ($host) { proxy_cache off; } }", `"proxy_cache" directive is not allowed here in FILE:6`],
    ];
    for (const [http, server, expected] of cases) {
      const result = await check(http, server);
      assert.equal(result.code, 1, `${http} ${server}`);
      assert.equal(result.emerg, expected.replace("FILE", result.file));
      if (result.nginx) assert.equal(result.nginx.emerg, result.emerg);
    }
  });

  test("a cache zone stays refused by name (nginx needs the zone: wsgate has no cache)", async () => {
    for (const zone of ["zone1", "$host"]) {
      const result = await check(`proxy_cache ${zone};`, "");
      assert.equal(result.code, 1);
      assert.equal(result.emerg, `"proxy_cache ${zone}" is not supported by wsgate in ${result.file}:3`);
    }
    const nginx = (await check("proxy_cache zone1;", "")).nginx;
    if (nginx) assert.match(nginx.emerg ?? "", /^"proxy_cache" zone "zone1" is unknown/);
  });
});
