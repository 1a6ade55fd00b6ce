/**
 * The `internal` directive: a location only internal redirects may use
 * (error_page, try_files, index, rewrite), inherited by nested locations; a
 * request from outside gets 404, which error_page may answer. Compared with
 * Debian's nginx for the same configuration, and its configuration errors
 * with nginx -t's text.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { comparableHead, skipWithoutNginx, startPeer, type Peer } from "../differential/peers.js";
import { exchange } from "../support/sockets.js";

const skip = skipWithoutNginx();

const CONFIG = `
  server {
    listen 127.0.0.1:PORT;
    location /in { internal; return 200 "internal $uri\\n"; location /in/nested { return 200 "nested\\n"; } }
    location /rw { rewrite ^ /in/from-rewrite last; }
    location /tf { try_files /no-such-file /in/from-try-files; }
    location /ep { error_page 404 /in/from-error-page; return 404; }
    location /paged { error_page 404 /in/page; location /paged/in { internal; } }
    location / { return 200 "outside $uri\\n"; }
  }`;

/** [path, expected status]: what wsgate must answer (and nginx answers alike). */
const CASES: ReadonlyArray<readonly [string, number]> = [
  ["/in", 404],
  ["/in/x", 404],
  ["/in/nested", 404],
  ["/rw", 200],
  ["/tf", 200],
  ["/ep", 404],
  ["/paged/in/x", 404],
  ["/other", 200],
];

function reply(buffer: Buffer): { head: string[]; body: string } {
  const text = buffer.toString("latin1");
  return {
    head: comparableHead(buffer),
    body: text.slice(text.indexOf("\r\n\r\n") + 4).replace(/nginx\/[\d.]+|wsgate\/[\d.]+/g, "SERVER"),
  };
}

describe("internal locations, nginx and wsgate", { skip }, () => {
  let nginx: Peer;
  let wsgate: Peer;
  before(async () => {
    nginx = await startPeer("nginx", CONFIG);
    wsgate = await startPeer("wsgate", CONFIG);
  });
  after(async () => {
    await nginx?.stop();
    await wsgate?.stop();
  });

  for (const [path, status] of CASES) {
    test(`GET ${path} answers ${status} as nginx does`, async () => {
      const request = `GET ${path} HTTP/1.0\r\n\r\n`;
      const fromNginx = reply(await exchange(nginx.port, request));
      const fromWsgate = reply(await exchange(wsgate.port, request));
      assert.equal(fromWsgate.head[0], `HTTP/1.1 ${status} ${status === 200 ? "OK" : "Not Found"}`);
      assert.deepEqual(fromWsgate, fromNginx);
    });
  }
});

describe("internal: configuration errors", () => {
  let root: string;
  let counter = 0;
  before(() => {
    root = makeTempDir("internal-errors");
  });
  after(() => removeTempDir(root));

  const CASES: ReadonlyArray<readonly [string, string]> = [
    ["location /a { internal; internal; }", `"internal" directive is duplicate in PREFIX/nginx.conf:5`],
    ["internal;", `"internal" directive is not allowed here in PREFIX/nginx.conf:5`],
    ["location /a { internal x; }", `invalid number of arguments in "internal" directive in PREFIX/nginx.conf:5`],
    ["location /a { internal; location /a/b { internal; } }", ""],
  ];
  for (const [server, expected] of CASES) {
    test(`${server} → ${expected || "loads"}`, async () => {
      const prefix = join(root, `case${++counter}`);
      const text = `events {}\nhttp {\n  server {\n    listen 127.0.0.1:8999;\n${server}\n  }\n}\n`;
      writeTree(prefix, { "nginx.conf": text });
      const confFile = join(prefix, "nginx.conf");
      let message = "";
      try {
        await loadConfig({ prefix, confFile });
      } catch (err) {
        assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
        message = err.message.replaceAll(prefix, "PREFIX");
      }
      assert.equal(message, expected);
      const nginx = nginxTest({ prefix, confFile });
      if (nginx) assert.equal((nginx.emerg ?? "").replaceAll(prefix, "PREFIX"), expected);
    });
  }
});
