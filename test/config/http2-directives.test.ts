/**
 * ngx_http_v2_module's configuration (src/config/modules/http2.ts), listen's
 * `http2` parameter and $http2: `wsgate -t` held to `nginx -t`.
 *
 * Debian's nginx is 1.22; wsgate follows 1.28. Where the two agree (the
 * settings directives' values, duplicates and contexts, the warnings of the
 * directives obsolete since 1.19.7) each case is compared with nginx. Where
 * 1.28 differs, wsgate is held to 1.28's source (src/http/v2/ngx_http_v2_module.c,
 * src/http/ngx_http_core_module.c) without nginx: the `http2` directive
 * (1.25.1), the server-push directives (obsolete since 1.25.1: a warning,
 * their value not read), listen's `http2` (deprecated in 1.25.1: a warning),
 * and http2_recv_buffer_size's lower bound (1.22 refuses up to 32 bytes,
 * twice its state buffer; 1.28 up to 16).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { Config, HttpConf } from "../../src/config/model.js";
import { planBindings } from "../../src/http/bindings.js";
import { VariableRegistry } from "../../src/vars/registry.js";
import { registerHttpVariables } from "../../src/vars/http-variables.js";
import { runCli } from "../cli/run-cli.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { expectNginxVerdicts, testBoth, type RefusalCase } from "../support/test-both.js";
import { fakeSource } from "../vars/fake-source.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("http2-directives");
});
after(() => removeTempDir(root));

function newPrefix(): string {
  return join(root, `case${++counter}`);
}

/** The [warn] texts of a -t run, without the program's name or the log line's date and pid. */
function warnings(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.includes("[warn] "))
    .map((line) => line.slice(line.indexOf("[warn] ") + 7).replace(/^\d+#\d+: /, ""));
}

/** `wsgate -t` on an http block: exit status, [emerg] text, warnings; and nginx -t's where it is asked for. */
async function check(inside: string): Promise<{ file: string; code: number | null; warnings: string[] }> {
  const prefix = newPrefix();
  const file = join(prefix, "nginx.conf");
  writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n${inside}\n}\n` });
  const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
  return { file, code: run.code, warnings: warnings(run.stderr) };
}

async function load(inside: string): Promise<HttpConf> {
  const prefix = newPrefix();
  const confFile = join(prefix, "nginx.conf");
  writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n${inside}\n}\n` });
  const config: Config = await loadConfig({ prefix, confFile });
  assert.ok(config.http);
  return config.http;
}

describe("ngx_http_v2_module's settings: nginx -t's verdicts (the same in 1.22 and 1.28)", () => {
  const cases: readonly RefusalCase[] = [
    [
      [
        "http2_max_concurrent_streams 64;",
        "http2_recv_buffer_size 1m;",
        "http2_pool_size 4k;",
        "http2_streams_index_size 64;",
        "server { listen 127.0.0.1:18555; http2_max_concurrent_streams 1; http2_body_preread_size 0;",
        "  http2_chunk_size 16k; location / { http2_chunk_size 32m; } }",
      ].join("\n"),
      undefined,
    ],
    ["http2_max_concurrent_streams abc;", `"http2_max_concurrent_streams" directive invalid number in FILE:3`],
    ["http2_max_concurrent_streams -1;", `"http2_max_concurrent_streams" directive invalid number in FILE:3`],
    [
      "server { http2_max_concurrent_streams 1;\nhttp2_max_concurrent_streams x; }",
      `"http2_max_concurrent_streams" directive is duplicate in FILE:4`,
    ],
    [
      "server { location / { http2_max_concurrent_streams 1; } }",
      `"http2_max_concurrent_streams" directive is not allowed here in FILE:3`,
    ],
    [
      "http2_max_concurrent_streams 1 2;",
      `invalid number of arguments in "http2_max_concurrent_streams" directive in FILE:3`,
    ],
    ["http2_body_preread_size 1x;", `"http2_body_preread_size" directive invalid value in FILE:3`],
    ["http2_body_preread_size 2147483647;", undefined],
    ["http2_body_preread_size 2147483648;", `the maximum body preread buffer size is 2147483647 in FILE:3`],
    ["http2_body_preread_size 2048m;", `the maximum body preread buffer size is 2147483647 in FILE:3`],
    [
      "http2_body_preread_size 1k;\nhttp2_body_preread_size 1k;",
      `"http2_body_preread_size" directive is duplicate in FILE:4`,
    ],
    [
      "server { location / { http2_body_preread_size 1k; } }",
      `"http2_body_preread_size" directive is not allowed here in FILE:3`,
    ],
    ["http2_chunk_size 0;", `the http2 chunk size cannot be zero in FILE:3`],
    ["http2_chunk_size 1g;", `"http2_chunk_size" directive invalid value in FILE:3`],
    ["http2_chunk_size 8k;\nhttp2_chunk_size x;", `"http2_chunk_size" directive is duplicate in FILE:4`],
    [
      "server { location / { if ($uri) { http2_chunk_size 1k; } } }",
      `"http2_chunk_size" directive is not allowed here in FILE:3`,
    ],
    ["http2_recv_buffer_size abc;", `"http2_recv_buffer_size" directive invalid value in FILE:3`],
    ["http2_recv_buffer_size 16;", `"http2_recv_buffer_size" directive value is too small in FILE:3`],
    [
      "http2_recv_buffer_size 1m;\nhttp2_recv_buffer_size 1m;",
      `"http2_recv_buffer_size" directive is duplicate in FILE:4`,
    ],
    ["server { http2_recv_buffer_size 1m; }", `"http2_recv_buffer_size" directive is not allowed here in FILE:3`],
    ["http2_pool_size 100;", `the pool size must be no less than 112 in FILE:3`],
    ["http2_pool_size 120;", `the pool size must be a multiple of 16 in FILE:3`],
    ["server { http2_pool_size 4k;\nhttp2_pool_size 4k; }", `"http2_pool_size" directive is duplicate in FILE:4`],
    ["http2_streams_index_size 3;", `"http2_streams_index_size" directive must be a power of two in FILE:3`],
    ["http2_streams_index_size 0;", `"http2_streams_index_size" directive must be a power of two in FILE:3`],
    [
      "server { location / { http2_max_field_size 4k; } }",
      `"http2_max_field_size" directive is not allowed here in FILE:3`,
    ],
    ["http2_idle_timeout 1 2;", `invalid number of arguments in "http2_idle_timeout" directive in FILE:3`],
    ["server { listen 127.0.0.1:18555 http2=1; }", `invalid parameter "http2=1" in FILE:3`],
    [`log_format h2 "$http2 $server_protocol";\naccess_log /dev/null h2;`, undefined],
  ];

  test("values, duplicates, contexts and argument counts", async () => {
    await expectNginxVerdicts(newPrefix(), cases);
  });

  test("the obsolete settings of 1.19.7: a warning naming their replacement, nothing else", async () => {
    const inside = [
      "http2_max_field_size 4k;",
      "http2_max_header_size x;",
      "server { http2_max_requests 1000;",
      "http2_recv_timeout 30s;",
      "http2_idle_timeout 3m; }",
    ].join("\n");
    const run = await check(inside);
    assert.equal(run.code, 0);
    const use = (name: string, replacement: string, line: number): string =>
      `the "${name}" directive is obsolete, use the "${replacement}" directive instead in ${run.file}:${line}`;
    assert.deepEqual(run.warnings, [
      use("http2_max_field_size", "large_client_header_buffers", 3),
      use("http2_max_header_size", "large_client_header_buffers", 4),
      use("http2_max_requests", "keepalive_requests", 5),
      use("http2_recv_timeout", "client_header_timeout", 6),
      use("http2_idle_timeout", "keepalive_timeout", 7),
    ]);
    const nginx = nginxTest({ prefix: join(run.file, ".."), confFile: run.file });
    if (nginx) assert.deepEqual(warnings(nginx.stderr), run.warnings, nginx.stderr);
  });
});

describe("what nginx 1.28 changed (held to its source; Debian's 1.22 differs)", () => {
  /** wsgate's verdict only: 1.22 has no `http2` directive, and still implements server push. */
  async function expect128(cases: readonly RefusalCase[]): Promise<void> {
    const prefix = newPrefix();
    let n = 0;
    for (const [inside, expected] of cases) {
      const both = await testBoth(prefix, `t${++n}.conf`, `events {}\nhttp {\n${inside}\n}\n`);
      assert.equal(both.emerg, expected?.replace("FILE", both.file), inside);
      assert.equal(both.code, expected === undefined ? 0 : 1, inside);
    }
  }

  test("http2 on|off at http and server level", async () => {
    await expect128([
      ["http2 on;\nserver { http2 off; }", undefined],
      ["http2 ON;", undefined],
      ["http2 maybe;", `invalid value "maybe" in "http2" directive, it must be "on" or "off" in FILE:3`],
      ["server { http2 on;\nhttp2 on; }", `"http2" directive is duplicate in FILE:4`],
      ["server { location / { http2 on; } }", `"http2" directive is not allowed here in FILE:3`],
      ["http2;", `invalid number of arguments in "http2" directive in FILE:3`],
      // 1.28's bound is NGX_HTTP_V2_STATE_BUFFER_SIZE (16); 1.22 refuses 17 to 32 as well.
      ["http2_recv_buffer_size 17;", undefined],
    ]);
  });

  test("wsgate_http2_websocket on|off at http and server level", async () => {
    await expect128([
      ["wsgate_http2_websocket on;\nserver { wsgate_http2_websocket off; }", undefined],
      [
        "wsgate_http2_websocket yes;",
        `invalid value "yes" in "wsgate_http2_websocket" directive, it must be "on" or "off" in FILE:3`,
      ],
      [
        "wsgate_http2_websocket on;\nwsgate_http2_websocket on;",
        `"wsgate_http2_websocket" directive is duplicate in FILE:4`,
      ],
      [
        "server { location / { wsgate_http2_websocket on; } }",
        `"wsgate_http2_websocket" directive is not allowed here in FILE:3`,
      ],
      ["wsgate_http2_websocket;", `invalid number of arguments in "wsgate_http2_websocket" directive in FILE:3`],
    ]);
  });

  test("server push is obsolete: a warning, the value not read; still checked for context and arguments", async () => {
    const run = await check(
      "http2_push /style.css;\nserver { http2_push_preload whatever;\nhttp2_max_concurrent_pushes x;\n" +
        "location / { http2_push off; } }",
    );
    assert.equal(run.code, 0);
    const ignored = (name: string, line: number): string =>
      `the "${name}" directive is obsolete, ignored in ${run.file}:${line}`;
    assert.deepEqual(run.warnings, [
      ignored("http2_push", 3),
      ignored("http2_push_preload", 4),
      ignored("http2_max_concurrent_pushes", 5),
      ignored("http2_push", 6),
    ]);
    await expect128([
      ["server { if ($uri) { http2_push /a; } }", `"http2_push" directive is not allowed here in FILE:3`],
      [
        "server { location / { http2_max_concurrent_pushes 1; } }",
        `"http2_max_concurrent_pushes" directive is not allowed here in FILE:3`,
      ],
      ["http2_push_preload;", `invalid number of arguments in "http2_push_preload" directive in FILE:3`],
    ]);
  });

  test("listen … http2 is accepted with the deprecation warning, once per listen; quic stays refused", async () => {
    const run = await check(
      "server { listen 127.0.0.1:18555 http2 default_server;\nlisten 127.0.0.1:18556 backlog=10 http2; }",
    );
    assert.equal(run.code, 0);
    const deprecated = (line: number): string =>
      `the "listen ... http2" directive is deprecated, use the "http2" directive instead in ${run.file}:${line}`;
    assert.deepEqual(run.warnings, [deprecated(3), deprecated(4)]);
    const plain = await check("server { listen 127.0.0.1:18555 http2; }");
    assert.equal(plain.code, 0);
    assert.deepEqual(plain.warnings, [deprecated(3).replace(run.file, plain.file)]);
    await expect128([
      [
        "server { listen 127.0.0.1:18555 quic; }",
        `the "quic" parameter of "listen" is not supported by wsgate in FILE:3`,
      ],
    ]);
  });
});

describe("the settings in the model", () => {
  test("nginx's defaults, and each level inherits what it does not set", async () => {
    const http = await load(
      [
        "http2_max_concurrent_streams 64;",
        "http2_chunk_size 4k;",
        "server { listen 127.0.0.1:18555; }",
        "server { listen 127.0.0.1:18556; http2 on; wsgate_http2_websocket on; http2_body_preread_size 1k;",
        "  http2_chunk_size 20m; location / { http2_chunk_size 1; } }",
      ].join("\n"),
    );
    assert.equal(http.http2RecvBufferSize, 256 * 1024);
    const [first, second] = http.servers;
    assert.ok(first && second);
    assert.deepEqual(
      [first.srv.http2, first.srv.http2MaxConcurrentStreams, first.srv.http2BodyPrereadSize],
      [false, 64, 65536],
    );
    assert.equal(first.srv.wsgateHttp2Websocket, false);
    assert.equal(first.loc.http2ChunkSize, 4096);
    assert.deepEqual(
      [second.srv.http2, second.srv.http2MaxConcurrentStreams, second.srv.http2BodyPrereadSize],
      [true, 64, 1024],
    );
    assert.equal(second.srv.wsgateHttp2Websocket, true);
    // ngx_http_v2_chunk_size(): above NGX_HTTP_V2_MAX_FRAME_SIZE is that size.
    assert.equal(second.loc.http2ChunkSize, 2 ** 24 - 1);
    assert.equal(second.locations[0]!.loc.http2ChunkSize, 1);
    assert.equal((await load("http2_recv_buffer_size 1m;")).http2RecvBufferSize, 1024 * 1024);
    const bare = await load("server { listen 127.0.0.1:18555; }");
    assert.deepEqual(
      [bare.servers[0]!.srv.http2MaxConcurrentStreams, bare.servers[0]!.loc.http2ChunkSize],
      [128, 8192],
    );
  });

  test("listen … http2 marks the listen, and its address whichever listen of it has the parameter", async () => {
    // As ngx_http_add_addresses(): an address's http2 is any of its listens' (1.28 accepts both orders without a word).
    for (const order of [
      ["http2", ""],
      ["", "http2"],
    ]) {
      const http = await load(
        [
          `server { listen 127.0.0.1:18555 ${order[0]}; listen 127.0.0.1:18557; }`,
          `server { listen 127.0.0.1:18555 ${order[1]}; server_name b; }`,
          "server { listen 127.0.0.1:18556; }",
        ].join("\n"),
      );
      assert.equal(http.servers[0]!.listens[0]!.http2, order[0] === "http2" ? true : undefined);
      assert.equal(http.servers[0]!.listens[1]!.http2, undefined);
      const byPort = new Map(planBindings(http).map((binding) => [binding.listen.port, binding.servers]));
      assert.equal(byPort.get(18555)?.http2, true, order.join(","));
      assert.equal(byPort.get(18556)?.http2, undefined);
      assert.equal(byPort.get(18557)?.http2, undefined);
    }
  });
});

describe("$http2", () => {
  test('"h2" on a stream over TLS, "h2c" over plain TCP, found and empty otherwise', () => {
    const vars = new VariableRegistry();
    registerHttpVariables(vars);
    const index = vars.indexOf("http2");
    vars.link();
    assert.equal(vars.lookup(fakeSource({ http2Protocol: "h2" }), index), "h2");
    assert.equal(vars.lookup(fakeSource({ http2Protocol: "h2c" }), index), "h2c");
    assert.equal(vars.lookup(fakeSource(), index), "");
  });
});
