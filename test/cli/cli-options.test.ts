/**
 * The command line without a running server: -t, -T, -q, -v, -V, -h, -p, -e,
 * -g and nginx's refusals, checked against `node bin/wsgate.js` and, where it
 * says the same thing, against nginx.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NGINX_BINARY, hasNginx, makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { lines, runCli } from "./run-cli.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("cli-options");
});

after(() => {
  removeTempDir(root);
});

/** A fresh prefix holding these files (and an empty logs/). */
function prefixWith(files: Readonly<Record<string, string>>): string {
  const prefix = join(root, `p${++counter}`);
  writeTree(prefix, { "logs/.keep": "", ...files });
  return prefix;
}

/** nginx's answer to a command line that never reads a configuration (bad options, -v). */
function nginxSays(args: readonly string[]): { status: number | null; stderr: string } | undefined {
  if (!hasNginx()) return undefined;
  const run = spawnSync(NGINX_BINARY, args, { encoding: "latin1", timeout: 10_000 });
  return { status: run.status, stderr: run.stderr };
}

const GOOD = "events {}\nhttp {\n    server {\n        listen 127.0.0.1:8080;\n    }\n}\n";

describe("-t and -T", () => {
  test("-t on a good file: nginx's two lines on stderr, nothing on stdout, exit 0", async () => {
    const prefix = prefixWith({ "conf/nginx.conf": GOOD });
    const file = join(prefix, "conf/nginx.conf");
    const result = await runCli(["-p", prefix, "-t"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(lines(result.stderr), [
      `wsgate: the configuration file ${file} syntax is ok`,
      `wsgate: configuration file ${file} test is successful`,
    ]);
    assert.equal(result.stdout, "");
  });

  test("-t on a bad file: the error with its place, then 'test failed', exit 1", async () => {
    const prefix = prefixWith({ "conf/nginx.conf": "events {}\n\nfrobnicate on;\n" });
    const file = join(prefix, "conf/nginx.conf");
    const result = await runCli(["-t", "-p", prefix, "-c", "conf/nginx.conf"]);
    assert.equal(result.code, 1);
    assert.deepEqual(lines(result.stderr), [
      `wsgate: [emerg] unknown directive "frobnicate" in ${file}:3`,
      `wsgate: configuration file ${file} test failed`,
    ]);
    assert.equal(result.stdout, "");
    const nginx = nginxTest({ prefix, confFile: file });
    if (nginx) {
      assert.equal(`wsgate: [emerg] ${nginx.emerg}`, lines(result.stderr)[0]);
      assert.ok(nginx.stderr.includes(`nginx: configuration file ${file} test failed\n`), nginx.stderr);
      assert.equal(nginx.status, 1);
    }
  });

  test("-T dumps every file read on stdout, as nginx does", async () => {
    const main = "events {}\ninclude parts/*.conf;\nhttp {\n}\n";
    const part = "# part\ndaemon off;\n";
    const prefix = prefixWith({ "conf/nginx.conf": main, "conf/parts/a.conf": part });
    const file = join(prefix, "conf/nginx.conf");
    const result = await runCli(["-T", "-p", prefix]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      `# configuration file ${file}:\n${main}\n# configuration file ${join(prefix, "conf/parts/a.conf")}:\n${part}\n`,
    );
    assert.equal(lines(result.stderr).length, 2, "the -t lines are still printed");
    if (hasNginx()) {
      const nginx = spawnSync(NGINX_BINARY, ["-T", "-q", "-e", "stderr", "-p", prefix + "/", "-c", file], {
        encoding: "latin1",
        timeout: 10_000,
      });
      assert.equal(nginx.status, 0, nginx.stderr);
      assert.equal(result.stdout, nginx.stdout);
    }
  });

  test("-q silences the success lines, not the errors", async () => {
    const prefix = prefixWith({ "conf/nginx.conf": GOOD });
    const quiet = await runCli(["-q", "-t", "-p", prefix]);
    assert.equal(quiet.code, 0);
    assert.equal(quiet.stderr, "");
    const grouped = await runCli(["-tq", "-p", prefix]);
    assert.equal(grouped.code, 0);
    assert.equal(grouped.stderr, "");
    const dump = await runCli(["-Tq", "-p", prefix]);
    assert.equal(dump.stderr, "");
    assert.ok(dump.stdout.startsWith(`# configuration file ${join(prefix, "conf/nginx.conf")}:\n`));

    const bad = prefixWith({ "conf/nginx.conf": "events {}\nhttp;\n" });
    const failed = await runCli(["-q", "-t", "-p", bad]);
    assert.equal(failed.code, 1);
    assert.equal(lines(failed.stderr).length, 2);
    assert.match(failed.stderr, /^wsgate: \[emerg\] directive "http" has no opening "\{" in .*:2\n/);
  });
});

describe("-v, -V, -h", () => {
  test("-v prints the nginx version it follows, and exits 0", async () => {
    const result = await runCli(["-v"]);
    assert.equal(result.code, 0);
    assert.deepEqual(lines(result.stderr), ["nginx version: nginx/1.28.0"]);
    assert.equal(result.stdout, "");
    const nginx = nginxSays(["-v"]);
    if (nginx) assert.match(nginx.stderr, /^nginx version: nginx\/\d+\.\d+\.\d+\n$/, "the same shape");
  });

  test("-V adds wsgate's version and the configure arguments", async () => {
    const prefix = prefixWith({});
    const result = await runCli(["-V", "-p", prefix]);
    assert.equal(result.code, 0);
    const out = lines(result.stderr);
    assert.equal(out[0], "nginx version: nginx/1.28.0");
    assert.match(out[1] ?? "", /^wsgate version: wsgate\/\d+\.\d+\.\d+/);
    const configure = out.find((line) => line.startsWith("configure arguments: "));
    assert.ok(configure, result.stderr);
    assert.match(configure, / ?--prefix=\S+/);
    assert.ok(configure.includes("--without-http_ssi_module"), "a module wsgate lacks is named");
    assert.ok(!configure.includes("--without-http_gzip_module"), "a module wsgate has is not");
    assert.ok(configure.includes("--with-http_gzip_static_module"), "an optional module wsgate has is named");
  });

  test("-h and -? print the usage and exit 0", async () => {
    for (const flag of ["-h", "-?"]) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0);
      const out = lines(result.stderr);
      assert.ok(out.includes("Usage: wsgate [-?hvVtTq] [-s signal] [-p prefix]"), result.stderr);
      for (const option of ["-?,-h", "-v", "-V", "-t", "-T", "-q", "-s signal", "-p prefix", "-e filename"]) {
        assert.ok(
          out.some((line) => line.startsWith(`  ${option} `)),
          `usage lists ${option}`,
        );
      }
      assert.ok(out.some((line) => line.startsWith("  -c filename   : set configuration file")));
      assert.ok(out.some((line) => line.startsWith("  -g directives : set global directives")));
    }
  });
});

describe("refused command lines", () => {
  const cases: ReadonlyArray<readonly [args: readonly string[], message: string]> = [
    [["-x"], `invalid option: "x"`],
    [["-tx"], `invalid option: "x"`],
    [["conf/nginx.conf"], `invalid option: "conf/nginx.conf"`],
    [["-c"], `option "-c" requires file name`],
    [["-p"], `option "-p" requires directory name`],
    [["-e"], `option "-e" requires file name`],
    [["-g"], `option "-g" requires parameter`],
    [["-s"], `option "-s" requires parameter`],
    [["-s", "foo"], `invalid option: "-s foo"`],
  ];
  for (const [args, message] of cases) {
    test(`${args.join(" ")}: ${message}`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `wsgate: ${message}\n`);
      assert.equal(result.stdout, "");
      const nginx = nginxSays(args);
      if (nginx) {
        assert.equal(nginx.stderr, `nginx: ${message}\n`);
        assert.equal(nginx.status, 1);
      }
    });
  }
});

describe("-g, -p, -e", () => {
  test(`-g "daemon off;" with a file that also says "daemon off;" is a duplicate`, async () => {
    const prefix = prefixWith({ "conf/nginx.conf": "daemon off;\nevents {}\n" });
    const file = join(prefix, "conf/nginx.conf");
    const result = await runCli(["-t", "-p", prefix, "-g", "daemon off;"]);
    assert.equal(result.code, 1);
    assert.deepEqual(lines(result.stderr), [
      `wsgate: [emerg] "daemon" directive is duplicate in ${file}:1`,
      `wsgate: configuration file ${file} test failed`,
    ]);
    const nginx = nginxTest({ prefix, confFile: file, globals: "daemon off;" });
    if (nginx) assert.equal(nginx.emerg, `"daemon" directive is duplicate in ${file}:1`);

    const alone = prefixWith({ "conf/nginx.conf": "events {}\n" });
    const ok = await runCli(["-t", "-q", "-p", alone, "-g", "daemon off;"]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test("-p sets where -c and relative paths resolve", async () => {
    const withConf = prefixWith({ "conf/nginx.conf": GOOD, "conf/other.conf": "events {}\n" });
    const without = prefixWith({});
    const ok = await runCli(["-t", "-p", withConf, "-c", "conf/other.conf"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      lines(ok.stderr)[0],
      `wsgate: the configuration file ${join(withConf, "conf/other.conf")} syntax is ok`,
    );

    const missing = await runCli(["-t", "-p", without]);
    assert.equal(missing.code, 1);
    assert.deepEqual(lines(missing.stderr), [
      `wsgate: [emerg] open() "${join(without, "conf/nginx.conf")}" failed (2: No such file or directory)`,
      `wsgate: configuration file ${join(without, "conf/nginx.conf")} test failed`,
    ]);

    // An absolute -c is taken as it is, whatever the prefix.
    const absolute = await runCli(["-t", "-p", without, "-c", join(withConf, "conf/nginx.conf")]);
    assert.equal(absolute.code, 0, absolute.stderr);
  });

  test("-e stderr: the startup error goes to stderr only", async () => {
    const prefix = prefixWith({ "conf/nginx.conf": "events {}\nfrobnicate;\n" });
    const result = await runCli(["-t", "-e", "stderr", "-p", prefix]);
    assert.equal(result.code, 1);
    assert.match(lines(result.stderr)[0] ?? "", /^wsgate: \[emerg\] unknown directive "frobnicate" in .*:2$/);
    assert.equal(lines(result.stderr).length, 2);
  });

  test("-e FILE: the startup error is also written there, relative to the prefix", async () => {
    const prefix = prefixWith({ "conf/nginx.conf": "events {}\nfrobnicate;\n" });
    const result = await runCli(["-t", "-e", "logs/startup.log", "-p", prefix]);
    assert.equal(result.code, 1);
    const log = readFileSync(join(prefix, "logs/startup.log"), "latin1");
    assert.match(
      log,
      /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[emerg\] \d+#\d+: unknown directive "frobnicate" in .*nginx\.conf:2\n$/,
    );
  });
});
