/**
 * `load_module`: wsgate has no dynamic modules, so the line is accepted with
 * a [warn] naming the file that is not loaded (nginx dlopen()s it, and fails
 * -t when it is missing: a difference on purpose). The module's directives
 * stay refused by name; the line's own errors are nginx's.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { runCli } from "../cli/run-cli.js";

let prefix: string;
let counter = 0;

before(() => {
  prefix = makeTempDir("load-module");
  writeTree(prefix, { "logs/.keep": "" });
});

after(() => {
  removeTempDir(prefix);
});

/** wsgate -t and nginx -t on the same file; wsgate's [emerg] text (after the program name) too. */
async function bothTest(text: string): Promise<{
  file: string;
  code: number | null;
  stderr: string;
  emerg: string | undefined;
  nginx: ReturnType<typeof nginxTest>;
}> {
  const file = join(prefix, `t${++counter}.conf`);
  writeTree(prefix, { [`t${counter}.conf`]: text });
  const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
  const line = run.stderr.split("\n").find((entry) => entry.includes("[emerg] "));
  const emerg = line?.slice(line.indexOf("[emerg] ") + 8).trimEnd();
  return { file, code: run.code, stderr: run.stderr, emerg, nginx: nginxTest({ prefix, confFile: file }) };
}

const HTTP = "http {\n    server {\n        listen 127.0.0.1:1;\n    }\n}\n";

describe("load_module", () => {
  test("accepted with a [warn] naming the file; nginx fails on dlopen() of the missing file", async () => {
    const result = await bothTest(`load_module modules/ngx_http_geoip_module.so;\nevents {}\n${HTTP}`);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(
      result.stderr.includes(
        `wsgate: [warn] load_module "modules/ngx_http_geoip_module.so" is not loaded: ` +
          `wsgate has no dynamic modules in ${result.file}:1`,
      ),
      result.stderr,
    );
    if (result.nginx) {
      assert.equal(result.nginx.status, 1);
      assert.match(result.nginx.emerg ?? "", /^dlopen\(\) ".*\/modules\/ngx_http_geoip_module\.so" failed/);
    }
  });

  test("the module's own directives are still refused by name", async () => {
    const result = await bothTest(
      `load_module modules/ngx_http_geoip_module.so;\nevents {}\nhttp {\n    geoip_country /x.dat;\n}\n`,
    );
    assert.equal(result.code, 1);
    assert.match(result.emerg ?? "", /"geoip_country".*not supported by wsgate/);
    assert.match(result.emerg ?? "", /:4$/);
  });

  test("nginx's errors: too late after events or http, argument count, not allowed in http", async () => {
    const cases = [
      `events {}\nload_module modules/x.so;\n${HTTP}`,
      `events {}\n${HTTP}load_module modules/x.so;\n`,
      `load_module;\nevents {}\n`,
      `load_module a.so b.so;\nevents {}\n`,
      `events {}\nhttp {\n    load_module x.so;\n}\n`,
    ];
    const expected = [
      `"load_module" directive is specified too late in FILE:2`,
      `"load_module" directive is specified too late in FILE:7`,
      `invalid number of arguments in "load_module" directive in FILE:1`,
      `invalid number of arguments in "load_module" directive in FILE:1`,
      `"load_module" directive is not allowed here in FILE:3`,
    ];
    for (const [index, text] of cases.entries()) {
      const result = await bothTest(text);
      assert.equal(result.code, 1, text);
      assert.equal(result.emerg, expected[index]!.replace("FILE", result.file), text);
      if (result.nginx) assert.equal(result.nginx.emerg, result.emerg, text);
    }
  });
});
