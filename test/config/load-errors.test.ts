/**
 * One test per kind of configuration error: wsgate's message and place, and,
 * where nginx has the same check, nginx -t's text for the very same files.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/model.js";
import { hasNginx, makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("config-errors");
});

after(() => {
  removeTempDir(root);
});

interface Case {
  /** Files relative to a fresh prefix directory; the main file is `conf/nginx.conf` unless `main` says otherwise. */
  readonly files: Readonly<Record<string, string>>;
  readonly main?: string;
  readonly globals?: string;
}

/** A fresh prefix with the case's files in it. */
function setUp(c: Case): { prefix: string; confFile: string } {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, c.files);
  return { prefix, confFile: join(prefix, c.main ?? "conf/nginx.conf") };
}

async function load(prefix: string, confFile: string, globals?: string): Promise<Config> {
  return loadConfig({ prefix, confFile, ...(globals !== undefined ? { globals } : {}) });
}

interface Expected {
  /** The text, or a function of the case's prefix directory for texts that name a path. */
  readonly message: string | ((prefix: string) => string);
  /** File relative to the prefix, and line; undefined for errors nginx reports without a place. */
  readonly at?: readonly [file: string, line: number];
  readonly kind?: ConfigError["kind"];
  /** False where nginx accepts the file (a directive wsgate does not implement). */
  readonly nginxAgrees?: boolean;
}

/** Load, expect a ConfigError with this text and place, and compare with nginx -t on the same files. */
async function expectError(c: Case, expected: Expected): Promise<ConfigError> {
  const { prefix, confFile } = setUp(c);
  let caught: unknown;
  try {
    await load(prefix, confFile, c.globals);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  const err = caught;
  const message = typeof expected.message === "string" ? expected.message : expected.message(prefix);
  assert.equal(err.detail, message);
  if (expected.at) {
    const file = join(prefix, expected.at[0]);
    assert.deepEqual(err.place, { file, line: expected.at[1] });
    assert.equal(err.message, `${message} in ${file}:${expected.at[1]}`);
  } else {
    assert.equal(err.place, undefined);
    assert.equal(err.message, message);
  }
  if (expected.kind) assert.equal(err.kind, expected.kind);

  const nginx = nginxTest({ prefix, confFile, ...(c.globals !== undefined ? { globals: c.globals } : {}) });
  if (nginx) {
    if (expected.nginxAgrees === false) {
      assert.equal(nginx.emerg, undefined, `nginx refused what wsgate refuses as unsupported: ${nginx.stderr}`);
    } else {
      assert.equal(err.message, nginx.emerg, `nginx said: ${nginx.stderr}`);
    }
  }
  return err;
}

const EVENTS = "events {}\n";

describe("loader errors, as nginx reports them", () => {
  test("nginx is available for the comparisons (informational)", (t) => {
    if (!hasNginx()) t.skip("nginx is not installed: messages are checked against the expected text only");
    else assert.ok(nginxTest({ prefix: root, confFile: "/nonexistent.conf" })?.emerg?.startsWith("open()"));
  });

  test("unknown directive", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}\nhttp {\n    frobnicate on;\n}\n` } },
      { message: `unknown directive "frobnicate"`, at: ["conf/nginx.conf", 4], kind: "unknown-directive" },
    );
  });

  test("a directive in the wrong context is not allowed here", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n    listen 8080;\n}\n` } },
      { message: `"listen" directive is not allowed here`, at: ["conf/nginx.conf", 3], kind: "not-allowed" },
    );
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}proxy_pass http://127.0.0.1:1;\n` } },
      { message: `"proxy_pass" directive is not allowed here`, at: ["conf/nginx.conf", 2] },
    );
  });

  test("invalid number of arguments", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  server {\n    listen;\n  }\n}\n` } },
      { message: `invalid number of arguments in "listen" directive`, at: ["conf/nginx.conf", 4], kind: "arguments" },
    );
    await expectError(
      { files: { "conf/nginx.conf": `daemon on off;\n${EVENTS}` } },
      { message: `invalid number of arguments in "daemon" directive`, at: ["conf/nginx.conf", 1] },
    );
  });

  test(`")" after a closing quote is a word of its own, as in nginx`, async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}daemon "off");\n` } },
      { message: `invalid number of arguments in "daemon" directive`, at: ["conf/nginx.conf", 2] },
    );
  });

  test("a block directive without its block", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}\nhttp;\n` } },
      { message: `directive "http" has no opening "{"`, at: ["conf/nginx.conf", 3], kind: "arguments" },
    );
  });

  test("a simple directive written with a block", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  server {\n    listen 8080 {\n    }\n  }\n}\n` } },
      { message: `directive "listen" is not terminated by ";"`, at: ["conf/nginx.conf", 4] },
    );
  });

  test(`unexpected "}"`, async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n}\n}\n` } },
      { message: `unexpected "}"`, at: ["conf/nginx.conf", 4], kind: "syntax" },
    );
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}daemon off\n}\n` } },
      { message: `unexpected "}"`, at: ["conf/nginx.conf", 3] },
    );
  });

  test(`unexpected end of file, expecting ";" or "}"`, async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  server {\n    listen 8080` } },
      { message: `unexpected end of file, expecting ";" or "}"`, at: ["conf/nginx.conf", 4] },
    );
  });

  test(`unexpected end of file, expecting "}"`, async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  server {\n    listen 8080;\n  }\n\n` } },
      { message: `unexpected end of file, expecting "}"`, at: ["conf/nginx.conf", 7], kind: "syntax" },
    );
  });

  test(`unexpected "{" and unexpected ";"`, async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}\n{\n` } },
      { message: `unexpected "{"`, at: ["conf/nginx.conf", 3] },
    );
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  ;\n}\n` } },
      { message: `unexpected ";"`, at: ["conf/nginx.conf", 3] },
    );
  });

  test("a missing include file", async () => {
    const err = await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}\ninclude extra.conf;\n` } },
      {
        message: (prefix) => `open() "${join(prefix, "conf/extra.conf")}" failed (2: No such file or directory)`,
        at: ["conf/nginx.conf", 3],
        kind: "include",
      },
    );
    assert.match(err.message, /\/conf\/extra\.conf" failed \(2: No such file or directory\) in .*nginx\.conf:3$/);
  });

  test("a missing main file is reported without a place", async () => {
    const prefix = join(root, `case${++counter}`);
    writeTree(prefix, { "keep.txt": "" });
    await assert.rejects(load(prefix, "conf/nginx.conf"), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `open() "${join(prefix, "conf/nginx.conf")}" failed (2: No such file or directory)`);
      assert.equal(err.place, undefined);
      return true;
    });
    const nginx = nginxTest({ prefix, confFile: join(prefix, "conf/nginx.conf") });
    if (nginx)
      assert.equal(nginx.emerg, `open() "${join(prefix, "conf/nginx.conf")}" failed (2: No such file or directory)`);
  });

  test("an include glob that matches nothing is fine", async () => {
    const { prefix, confFile } = setUp({
      files: { "conf/nginx.conf": `${EVENTS}include nothing-here/*.conf;\nhttp {\n  include none/*.types;\n}\n` },
    });
    const config = await load(prefix, confFile);
    assert.deepEqual(
      config.files.map((file) => file.path),
      [confFile],
    );
    assert.ok(config.http, "the http block was read after the empty include");
    const nginx = nginxTest({ prefix, confFile });
    if (nginx) assert.equal(nginx.emerg, undefined, nginx.stderr);
  });

  test("includes resolve from the main file's directory; errors name the included file", async () => {
    // The prefix is the parent of conf/: an include relative to the prefix would miss.
    const err = await expectError(
      {
        files: {
          "conf/nginx.conf": `${EVENTS}http {\n  include sites/*.conf;\n}\n`,
          "conf/sites/a.conf": `server {\n  listen 127.0.0.1:8081;\n}\n`,
          "conf/sites/b.conf": `# b\nserver {\n  listen 127.0.0.1:8082;\n  bogus 1;\n}\n`,
          "sites/b.conf": "# not this one: relative to the prefix\n",
        },
      },
      { message: `unknown directive "bogus"`, at: ["conf/sites/b.conf", 4] },
    );
    assert.match(err.message, /conf\/sites\/b\.conf:4$/);
  });

  test("a missing file included from an included file names the including file", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf": `${EVENTS}include inner/first.conf;\n`,
          "conf/inner/first.conf": `\n\ninclude inner/second.conf;\n`,
        },
      },
      {
        message: (prefix) => `open() "${join(prefix, "conf/inner/second.conf")}" failed (2: No such file or directory)`,
        at: ["conf/inner/first.conf", 3],
      },
    );
  });

  test("is duplicate", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  keepalive_timeout 5s;\n  keepalive_timeout 6s;\n}\n` } },
      { message: `"keepalive_timeout" directive is duplicate`, at: ["conf/nginx.conf", 4], kind: "invalid-value" },
    );
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}${EVENTS}` } },
      { message: `"events" directive is duplicate`, at: ["conf/nginx.conf", 2] },
    );
  });

  test("an invalid flag value", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  sendfile yes;\n}\n` } },
      {
        message: `invalid value "yes" in "sendfile" directive, it must be "on" or "off"`,
        at: ["conf/nginx.conf", 3],
      },
    );
  });

  test("an unknown log format", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  access_log logs/access.log nosuch;\n}\n` } },
      { message: `unknown log format "nosuch"`, at: ["conf/nginx.conf", 3] },
    );
  });

  test("a duplicate upstream", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf":
            `${EVENTS}http {\n  upstream backend { server 127.0.0.1:9001; }\n` +
            `  upstream backend {\n    server 127.0.0.1:9002;\n  }\n}\n`,
        },
      },
      { message: `duplicate upstream "backend"`, at: ["conf/nginx.conf", 4] },
    );
  });

  test("an unknown variable is reported without a place", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf":
            `${EVENTS}http {\n  server {\n    listen 127.0.0.1:8080;\n` +
            `    location / {\n      proxy_set_header X-Foo $foo;\n      proxy_pass http://127.0.0.1:9;\n    }\n  }\n}\n`,
        },
      },
      { message: `unknown "foo" variable` },
    );
  });

  test("host not found in upstream: an implicit upstream from proxy_pass is named by its host", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf":
            `${EVENTS}http {\n  server {\n    listen 127.0.0.1:8080;\n` +
            `    location / {\n      proxy_pass http://no-such-host.invalid:8080/x;\n    }\n  }\n}\n`,
        },
      },
      {
        message: `host not found in upstream "no-such-host.invalid"`,
        at: ["conf/nginx.conf", 6],
        kind: "host-not-found",
      },
    );
  });

  test("host not found in upstream: a server of an upstream block is named as written", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf": `${EVENTS}http {\n  upstream u {\n    server no-such-host.invalid:8080;\n  }\n}\n`,
        },
      },
      { message: `host not found in upstream "no-such-host.invalid:8080"`, at: ["conf/nginx.conf", 4] },
    );
  });

  test("an upstream group may not be given a port", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf":
            `${EVENTS}http {\n  upstream backend { server 127.0.0.1:9001; }\n  server {\n    listen 127.0.0.1:8080;\n` +
            `    location / { proxy_pass http://backend:8080; }\n  }\n}\n`,
        },
      },
      { message: `upstream "backend" may not have port 8080`, at: ["conf/nginx.conf", 6] },
    );
  });

  test("an invalid port in listen", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  server {\n    listen 127.0.0.1:99999;\n  }\n}\n` } },
      { message: `invalid port in "127.0.0.1:99999" of the "listen" directive`, at: ["conf/nginx.conf", 4] },
    );
  });

  test("a directive nginx has and wsgate lacks is refused by name", async () => {
    await expectError(
      {
        files: {
          "conf/nginx.conf": `${EVENTS}http {\n  proxy_cookie_path off;\n}\n`,
        },
      },
      {
        message: `"proxy_cookie_path" directive is not supported by wsgate`,
        at: ["conf/nginx.conf", 3],
        kind: "unsupported",
        nginxAgrees: false,
      },
    );
  });

  test(`no "events" section`, async () => {
    await expectError(
      { files: { "conf/nginx.conf": `daemon off;\nhttp {\n}\n` } },
      { message: `no "events" section in configuration`, kind: "syntax" },
    );
  });

  test("-g directives: errors are placed in the command line, without a line number", async () => {
    const { prefix, confFile } = setUp({ files: { "conf/nginx.conf": EVENTS } });
    for (const [globals, message] of [
      ["daemon off; frobnicate;", `unknown directive "frobnicate" in command line`],
      ["daemon maybe;", `invalid value "maybe" in "daemon" directive, it must be "on" or "off" in command line`],
      ["http { }", `block directives are not supported in -g option in command line`],
      ["daemon off", `unexpected end of parameter, expecting ";" in command line`],
    ] as const) {
      await assert.rejects(load(prefix, confFile, globals), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, message);
        return true;
      });
      const nginx = nginxTest({ prefix, confFile, globals });
      if (nginx) assert.equal(nginx.emerg, message, nginx.stderr);
    }
  });

  test("-g directives come before the file's: a repeated one is a duplicate in the file", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `\ndaemon off;\n${EVENTS}` }, globals: "daemon off;" },
      { message: `"daemon" directive is duplicate`, at: ["conf/nginx.conf", 2] },
    );
  });
});

describe("errors are reported in nginx's order", () => {
  test("connection_pool_size: nginx's bounds, and large header buffers no smaller, checked at the http block's end", async () => {
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  connection_pool_size 100;\n}\n` } },
      { message: "the pool size must be no less than 112", at: ["conf/nginx.conf", 3] },
    );
    await expectError(
      { files: { "conf/nginx.conf": `${EVENTS}http {\n  connection_pool_size 120;\n}\n` } },
      { message: "the pool size must be a multiple of 16", at: ["conf/nginx.conf", 3] },
    );
    const message = `the "large_client_header_buffers" size must be equal to or greater than "connection_pool_size"`;
    await expectError(
      {
        files: {
          "conf/nginx.conf": `${EVENTS}http {\n  server {\n    large_client_header_buffers 4 240;\n  }\n\n}\n`,
        },
      },
      { message, at: ["conf/nginx.conf", 7] },
    );
    await expectError(
      {
        files: {
          "conf/nginx.conf": `${EVENTS}http {\n  connection_pool_size 1024;\n  server {\n    large_client_header_buffers 4 512;\n  }\n}\n`,
        },
      },
      { message, at: ["conf/nginx.conf", 7] },
    );
  });

  test("a directive before a syntax error is checked first", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsgate-order-"));
    try {
      const file = join(dir, "nginx.conf");
      writeFileSync(file, "events {}\nfoo;\n}\n");
      await assert.rejects(loadConfig({ prefix: dir, confFile: file }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `unknown directive "foo" in ${file}:2`);
        return true;
      });
      writeFileSync(file, "events {}\nhttp {\n  bar;\n  include missing.conf;\n");
      await assert.rejects(loadConfig({ prefix: dir, confFile: file }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `unknown directive "bar" in ${file}:3`);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the directive catalogue", () => {
  test("every directive wsgate implements is one nginx knows, or wsgate's own (wsgate_)", async () => {
    const { DIRECTIVES } = await import("../../src/config/directives.js");
    const { NGINX_DIRECTIVES } = await import("../../src/config/nginx-directives.js");
    const unknownToNginx = [...DIRECTIVES.keys()].filter(
      (name) => !NGINX_DIRECTIVES.has(name) && !name.startsWith("wsgate_"),
    );
    assert.deepEqual(unknownToNginx, []);
  });
});

describe("request body directives (proxy_request_buffering, client_body_*)", () => {
  const http = (body: string): Case => ({ files: { "conf/nginx.conf": `${EVENTS}http {\n  ${body}\n}\n` } });

  test("values nginx refuses, refused in its words", async () => {
    await expectError(http("proxy_request_buffering yes;"), {
      message: `invalid value "yes" in "proxy_request_buffering" directive, it must be "on" or "off"`,
      at: ["conf/nginx.conf", 3],
    });
    await expectError(http("client_body_buffer_size 8x;"), {
      message: `"client_body_buffer_size" directive invalid value`,
      at: ["conf/nginx.conf", 3],
    });
    for (const args of ["body 0", "body 5 5 1", "body x", "body 1 -1"]) {
      await expectError(http(`client_body_temp_path ${args};`), {
        message: `"client_body_temp_path" directive invalid value`,
        at: ["conf/nginx.conf", 3],
      });
    }
    for (const args of ["", " body 1 2 3 4"]) {
      await expectError(http(`client_body_temp_path${args};`), {
        message: `invalid number of arguments in "client_body_temp_path" directive`,
        at: ["conf/nginx.conf", 3],
      });
    }
    await expectError(http("client_body_temp_path a;\n  client_body_temp_path b;"), {
      message: `"client_body_temp_path" directive is duplicate`,
      at: ["conf/nginx.conf", 4],
    });
    await expectError(
      http("server {\n    location / {\n      if ($uri) { proxy_request_buffering off; }\n    }\n  }"),
      {
        message: `"proxy_request_buffering" directive is not allowed here`,
        at: ["conf/nginx.conf", 5],
      },
    );
    await expectError(http("client_body_in_file_only yes;"), {
      message: `invalid value "yes"`,
      at: ["conf/nginx.conf", 3],
    });
    await expectError(http("client_body_in_file_only on;\n  client_body_in_file_only yes;"), {
      message: `"client_body_in_file_only" directive is duplicate`,
      at: ["conf/nginx.conf", 4],
    });
  });

  test("defaults, inheritance, and paths from the prefix", async () => {
    const { prefix, confFile } = setUp(
      http(
        "client_body_buffer_size 16k;\n  proxy_request_buffering off;\n" +
          "  server {\n    client_body_temp_path /var/tmp/body/ 1 2;\n" +
          "    location /a { proxy_request_buffering on; }\n    location /b { client_body_temp_path tmp; }\n  }",
      ),
    );
    const config = await load(prefix, confFile);
    const server = config.http!.servers[0]!;
    assert.equal(server.loc.proxyRequestBuffering, false);
    assert.equal(server.loc.clientBodyBufferSize, 16384);
    assert.deepEqual(server.loc.clientBodyTempPath, { path: "/var/tmp/body", levels: [1, 2] });
    const [a, b] = server.locations;
    assert.equal(a!.loc.proxyRequestBuffering, true);
    assert.deepEqual(b!.loc.clientBodyTempPath, { path: join(prefix, "tmp"), levels: [] });
    const bare = setUp(http(""));
    const defaults = (await load(bare.prefix, bare.confFile)).http!.loc;
    assert.equal(defaults.proxyRequestBuffering, true);
    assert.equal(defaults.clientBodyBufferSize, 8192);
    assert.deepEqual(defaults.clientBodyTempPath, { path: join(bare.prefix, "client_body_temp"), levels: [] });
  });
});
