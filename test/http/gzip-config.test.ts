/**
 * The gzip directives in a configuration, as `nginx -t` reads them: the
 * accepted forms at every level nginx allows, and its refusals and warnings
 * word for word (ngx_conf_set_num_slot with bounds, the enum and bitmask
 * slots, ngx_conf_set_bufs_slot, ngx_http_types_slot, gzip_window's and
 * gzip_hash's post handlers, gzip_disable's regexes).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { runCli } from "../cli/run-cli.js";
import { expectNginxVerdicts } from "../support/test-both.js";

/** [the inside of the http block, wsgate's expected [emerg] text with FILE, or undefined when accepted]. */
const CASES: ReadonlyArray<readonly [string, string | undefined]> = [
  [
    "gzip on; gzip_vary on; gzip_proxied expired no-cache no-store private auth; gzip_comp_level 6;\n" +
      "gzip_buffers 16 8k; gzip_http_version 1.1; gzip_min_length 256; gzip_window 8k; gzip_hash 16k;\n" +
      "gzip_types text/plain text/css application/json application/javascript text/xml;\n" +
      'gzip_disable "msie6"; gzip_disable "Foo/[0-9]+"; gzip_no_buffer on; postpone_gzipping 0;\n' +
      "gzip_static on;\n" +
      "server { listen 127.0.0.1:1; gzip off; gzip_types *; gzip_proxied any; gzip_static always;\n" +
      "  location / { gzip on; gzip_comp_level 9; gzip_http_version 1.0; gzip_static off;\n" +
      "    if ($arg_x) { gzip off; } } }",
    undefined,
  ],
  ["gzip_comp_level 0;", "value must be between 1 and 9 in FILE:3"],
  ["gzip_comp_level 10;", "value must be between 1 and 9 in FILE:3"],
  ["gzip_comp_level high;", `"gzip_comp_level" directive invalid number in FILE:3`],
  ["gzip_comp_level 1;\ngzip_comp_level 2;", `"gzip_comp_level" directive is duplicate in FILE:4`],
  ["gzip_http_version 2.0;", `invalid value "2.0" in FILE:3`],
  ["gzip_http_version 1.1;\ngzip_http_version 1.0;", `"gzip_http_version" directive is duplicate in FILE:4`],
  ["gzip_proxied expired sometimes;", `invalid value "sometimes" in FILE:3`],
  ["gzip_proxied;", `invalid number of arguments in "gzip_proxied" directive in FILE:3`],
  ["gzip_buffers 0 8k;", `"gzip_buffers" directive invalid value in FILE:3`],
  ["gzip_buffers 16 0;", `"gzip_buffers" directive invalid value in FILE:3`],
  ["gzip_buffers 16 8q;", `"gzip_buffers" directive invalid value in FILE:3`],
  ["gzip_buffers x 8k;", `"gzip_buffers" directive invalid value in FILE:3`],
  ["gzip_buffers 16;", `invalid number of arguments in "gzip_buffers" directive in FILE:3`],
  ["gzip_buffers 4 4k;\ngzip_buffers 8 4k;", `"gzip_buffers" directive is duplicate in FILE:4`],
  ["gzip_window 3k;", `"gzip_window" directive must be 512, 1k, 2k, 4k, 8k, 16k, or 32k in FILE:3`],
  ["gzip_hash 256k;", `"gzip_hash" directive must be 512, 1k, 2k, 4k, 8k, 16k, 32k, 64k, or 128k in FILE:3`],
  ["gzip_min_length abc;", `"gzip_min_length" directive invalid value in FILE:3`],
  ["gzip maybe;", `invalid value "maybe" in "gzip" directive, it must be "on" or "off" in FILE:3`],
  ["gzip on;\ngzip off;", `"gzip" directive is duplicate in FILE:4`],
  ["gzip_types *;\ngzip_types text/css;", undefined],
  ['gzip_disable "(";', `pcre2_compile() failed: missing closing parenthesis in "(" in FILE:3`],
  ["gzip_static sometimes;", `invalid value "sometimes" in FILE:3`],
  [
    "server { listen 127.0.0.1:1; location / { if ($arg_x) { gzip_vary on; } } }",
    `"gzip_vary" directive is not allowed here in FILE:3`,
  ],
];

describe("gzip directives in the configuration", () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("gzip-config");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("accepted at every level nginx allows; nginx's refusals word for word", async () => {
    await expectNginxVerdicts(prefix, CASES);
  });

  test("a MIME type named twice and a gzip_proxied word repeated are warnings, as nginx's", async () => {
    const file = join(prefix, "warn.conf");
    writeTree(prefix, {
      "warn.conf": "events {}\nhttp {\ngzip_types text/html text/css TEXT/CSS;\ngzip_proxied any any;\n}\n",
    });
    const run = await runCli(["-t", "-p", prefix, "-c", file]);
    const warnings = (text: string): string[] =>
      text
        .split("\n")
        .filter((entry) => entry.includes("[warn] "))
        .map((entry) => entry.slice(entry.indexOf("[warn] ") + 7).replace(/^\d+#\d+: /, ""));
    assert.equal(run.code, 0, run.stderr);
    const expected = [
      `duplicate MIME type "text/html" in ${file}:3`,
      `duplicate MIME type "text/css" in ${file}:3`,
      `duplicate value "any" in ${file}:4`,
    ];
    assert.deepEqual(warnings(run.stderr), expected);
    const nginx = nginxTest({ prefix, confFile: file });
    if (nginx) assert.deepEqual(warnings(nginx.stderr), expected);
  });
});
