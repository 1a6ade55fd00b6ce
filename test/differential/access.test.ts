/**
 * allow / deny against nginx: the first matching rule decides, a level with
 * rules replaces the ones it would inherit, prefixes (with meaningless low
 * bits), IPv6 and unix: rules never match an IPv4 client, the rewrite phase
 * (return) runs before the access phase, an error_page answers a 403, and
 * nginx's "access forbidden by rule" line; configuration errors as nginx -t.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { peersWith, skipWithoutNginx, startRecordingBackend, type Peer, type RecordingBackend } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { accessAllowed } from "../../src/http/access.js";
import { parseCidr } from "../../src/config/modules/access.js";

const skip = skipWithoutNginx();

function conf(backend: number): string {
  const pass = `proxy_pass http://127.0.0.1:${backend};`;
  return `
  server {
    listen PORT;
    allow 127.0.0.2;
    deny 127.0.0.3;
    location /open { ${pass} }
    location /local { allow 127.0.0.1; deny all; ${pass} }
    location /net { allow 127.0.0.0/8; deny all; ${pass} }
    location /lowbits { allow 127.9.9.9/8; deny all; ${pass} }
    location /other { allow 10.0.0.0/8; deny all; ${pass} }
    location /first { deny 127.0.0.1; allow all; ${pass} }
    location /v6 { allow ::1; allow ::ffff:127.0.0.1; deny all; ${pass} }
    location /v6net { allow 2001:db8::/32; deny all; ${pass} }
    location /unix { allow unix:; deny all; ${pass} }
    location /ret { deny all; return 200 "returned before the access phase\\n"; }
    location /parent/ {
      deny all;
      location /parent/child { ${pass} }
      location /parent/open { allow all; ${pass} }
    }
    location /page { deny all; error_page 403 /denied; }
    location = /denied { return 200 "denied page\\n"; }
  }`;
}

const PATHS = [
  "/open",
  "/local",
  "/net",
  "/lowbits",
  "/other",
  "/first",
  "/v6",
  "/v6net",
  "/unix",
  "/ret",
  "/parent/child",
  "/parent/open",
  "/page",
];

describe("differential: allow and deny", { skip }, () => {
  let backend: RecordingBackend;
  const peers = peersWith(
    async () => {
      backend = await startRecordingBackend();
      return conf(backend.port);
    },
    async () => {
      await backend?.close();
    },
  );

  async function ask(name: "nginx" | "wsgate", path: string): Promise<string> {
    const peer = peers[name]!;
    const from = backend.heads.length;
    const reply = await exchange(
      peer.port,
      `GET ${path} HTTP/1.1\r\nHost: access.test\r\nConnection: close\r\n\r\n`,
      hasWholeResponse,
    );
    const text = reply.toString("latin1");
    const body = text.slice(text.indexOf("\r\n\r\n") + 4).replace(/nginx\/[\d.]+|wsgate\/[\d.]+/g, "SERVER");
    const upstream = backend.heads.length > from ? "reached the backend" : "backend untouched";
    return `${text.split("\r\n")[0]} | ${upstream} | ${body.length} bytes: ${body.slice(0, 60)}`;
  }

  for (const path of PATHS) {
    test(path, async () => {
      const nginx = await ask("nginx", path);
      const wsgate = await ask("wsgate", path);
      assert.equal(wsgate, nginx);
    });
  }

  test("the error-log line of a refusal", async () => {
    const forbidden = (peer: Peer): string[] =>
      peer
        .errorLog()
        .split("\n")
        .filter((line) => line.includes("access forbidden"))
        .map((line) => line.replace(/^.*?\[/, "[").replace(/\d+#\d+: \*\d+ /, ""));
    const nginx = forbidden(peers.nginx!);
    assert.ok(nginx.length >= 5, nginx.join("\n"));
    assert.deepEqual(forbidden(peers.wsgate!), nginx);
  });
});

describe("allow and deny: configuration errors as nginx -t", () => {
  for (const [rule, message] of [
    ["allow 300.0.0.1;", `invalid parameter "300.0.0.1"`],
    ["deny 10.0.0.0/33;", `invalid parameter "10.0.0.0/33"`],
    ["allow host.example;", `invalid parameter "host.example"`],
    ["deny;", `invalid number of arguments in "deny" directive`],
  ] as const) {
    test(rule, async () => {
      const prefix = makeTempDir();
      try {
        writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n  server {\n    ${rule}\n  }\n}\n` });
        const file = join(prefix, "nginx.conf");
        await assert.rejects(loadConfig({ prefix, confFile: file }), (err: Error) => {
          assert.equal(err.message, `${message} in ${file}:4`);
          return true;
        });
        const nginx = nginxTest({ prefix, confFile: file });
        if (nginx) assert.equal(nginx.emerg, `${message} in ${file}:4`, nginx.stderr);
      } finally {
        removeTempDir(prefix);
      }
    });
  }
});

describe("allow and deny: address matching", () => {
  const rules = (text: string): Parameters<typeof accessAllowed>[0] =>
    text.split(";").map((part) => {
      const [verb, what] = part.trim().split(" ") as [string, string];
      const match = what === "all" ? { kind: "all" as const } : parseCidr(what)!;
      return { allow: verb === "allow", match };
    });

  test("prefixes of IPv4 and IPv6, mapped addresses, no rule matching allows", () => {
    assert.equal(accessAllowed(rules("allow 192.168.1.0/24; deny all"), "192.168.1.77"), true);
    assert.equal(accessAllowed(rules("allow 192.168.1.0/24; deny all"), "192.168.2.1"), false);
    assert.equal(accessAllowed(rules("allow 10.0.0.0/9; deny all"), "10.127.255.255"), true);
    assert.equal(accessAllowed(rules("allow 10.0.0.0/9; deny all"), "10.128.0.0"), false);
    assert.equal(accessAllowed(rules("deny 2001:db8::/33"), "2001:db8:7fff::1"), false);
    assert.equal(accessAllowed(rules("deny 2001:db8::/33"), "2001:db8:8000::1"), true);
    assert.equal(accessAllowed(rules("deny 10.0.0.1"), "::ffff:10.0.0.1"), false);
    assert.equal(accessAllowed(rules("allow 0.0.0.0/0; deny all"), "::1"), false);
    assert.equal(accessAllowed(rules("deny 10.0.0.1"), "10.0.0.2"), true);
  });
});
