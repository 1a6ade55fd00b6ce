/**
 * Directives of nginx modules outside wsgate's scope are refused by name: the
 * line keeps nginx's `unknown directive "x"` at its start (where Debian's
 * nginx does not have the module either, its whole text up to the colon is
 * nginx's) and names the module.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import { outOfScopeModule } from "../../src/config/out-of-scope.js";
import { DIRECTIVES } from "../../src/config/directives.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

let prefix: string;
let counter = 0;

before(() => {
  prefix = makeTempDir("out-of-scope");
  writeTree(prefix, { "logs/.keep": "" });
});

after(() => removeTempDir(prefix));

async function refusal(text: string): Promise<{ error: ConfigError; file: string }> {
  const name = `t${++counter}.conf`;
  writeTree(prefix, { [name]: text });
  const file = join(prefix, name);
  try {
    await loadConfig({ prefix, confFile: file });
  } catch (err) {
    if (err instanceof ConfigError) return { error: err, file };
    throw err;
  }
  throw new Error("accepted");
}

const inLocation = (line: string): string =>
  `events {}\nhttp {\n    server {\n        listen 127.0.0.1:1;\n        location / {\n            ${line}\n        }\n    }\n}\n`;

const CASES: ReadonlyArray<readonly [string, string, string]> = [
  [inLocation("fastcgi_pass 127.0.0.1:9000;"), "fastcgi_pass", "ngx_http_fastcgi_module"],
  [inLocation("uwsgi_pass 127.0.0.1:9000;"), "uwsgi_pass", "ngx_http_uwsgi_module"],
  [inLocation("scgi_pass 127.0.0.1:9000;"), "scgi_pass", "ngx_http_scgi_module"],
  [inLocation("grpc_pass grpc://127.0.0.1:9000;"), "grpc_pass", "ngx_http_grpc_module"],
  [inLocation("memcached_pass 127.0.0.1:11211;"), "memcached_pass", "ngx_http_memcached_module"],
  [inLocation("ssi on;"), "ssi", "ngx_http_ssi_module"],
  [inLocation("sub_filter a b;"), "sub_filter", "ngx_http_sub_module"],
  [inLocation("proxy_cache_valid 200 10m;"), "proxy_cache_valid", "proxy caching (ngx_http_proxy_module's cache)"],
  [
    `events {}\nhttp {\n    proxy_cache_path /tmp/c keys_zone=z:1m;\n}\n`,
    "proxy_cache_path",
    "proxy caching (ngx_http_proxy_module's cache)",
  ],
  [inLocation("js_content main.hello;"), "js_content", "ngx_http_js_module (njs)"],
  [`events {}\nstream {\n}\n`, "stream", "ngx_stream_module"],
  [`events {}\nmail {\n}\n`, "mail", "ngx_mail_module"],
];

describe("directives of modules outside wsgate's scope", () => {
  for (const [text, directive, module] of CASES) {
    test(`${directive}: refused naming ${module}`, async () => {
      const { error, file } = await refusal(text);
      assert.equal(error.kind, "unsupported");
      const line = text.split("\n").findIndex((entry) => entry.includes(directive)) + 1;
      assert.equal(
        error.message,
        `unknown directive "${directive}": ${module} is not supported by wsgate in ${file}:${line}`,
      );
      const nginx = nginxTest({ prefix, confFile: file });
      // Debian's nginx has the http modules built in (it accepts the file, or stops later at what the module
      // would define) and loads stream, mail, njs only with load_module: then it refuses the same directive.
      if (nginx?.emerg?.startsWith("unknown directive"))
        assert.equal(nginx.emerg, `unknown directive "${directive}" in ${file}:${line}`);
    });
  }

  test("a directive of a module wsgate has is never taken for an out-of-scope one", () => {
    for (const name of DIRECTIVES.keys()) assert.equal(outOfScopeModule(name), undefined, name);
  });

  test("proxy_cache off, proxy_cache_bypass and proxy_no_cache are still accepted", async () => {
    const name = `t${++counter}.conf`;
    writeTree(prefix, { [name]: inLocation("proxy_cache off; proxy_cache_bypass $arg_x; proxy_no_cache $arg_y;") });
    await loadConfig({ prefix, confFile: join(prefix, name) });
  });
});
