/**
 * auth_basic against nginx: an htpasswd file with each scheme nginx and
 * libxcrypt accept ({PLAIN}, {SHA}, {SSHA}, $apr1$, $1$, $5$, $6$ with
 * rounds), comments and a CRLF line; the right password (200, $remote_user),
 * a wrong one, an unknown user, no or broken credentials (401 with
 * WWW-Authenticate), a missing file (403), a directory (500); a realm from a
 * variable and `off`; auth_basic under satisfy all|any with allow/deny; the
 * error-log lines; and nginx -t's refusals.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { comparableErrors, comparableLog, peersWith, skipWithoutNginx, startPeer } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { expectNginxVerdicts } from "../support/test-both.js";

const skip = skipWithoutNginx();

/** Every user's password is "secret". */
const HTPASSWD = [
  "# users of the test",
  "plain:{PLAIN}secret",
  "sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
  "ssha:{SSHA}dj2lH1ocucmj5OQsjP6mQrVx6FhOYUNs",
  "",
  "apr:$apr1$Xy12Ab34$BWlKFbErQ1qyOGAWVSn.f.:extra field",
  "md5:$1$Qw3rTy$cEN4JJWke0.Vo.hC48JOk.\r",
  "sha256:$5$s4lt5alt$LEL6cjFr4vr7CnFkYpAf85b.CXJUnRZa9lAObSHggF8",
  "sha512:$6$rounds=2000$s4lt$gDbPsUZoYaGSgIvE.Z2dMQXzftIV6cIOstvccudvG9.GOSBTSfn3hq.kluJ.0Xib2YcbBiTBMRRgOGNq.WTKo/",
  "garbage:not-a-hash",
].join("\n");

const USERS = ["plain", "sha", "ssha", "apr", "md5", "sha256", "sha512"];

function conf(dir: string): string {
  const file = join(dir, "htpasswd");
  // A file, not \`return\`: return answers in the rewrite phase, before the access phase checks anything.
  const site = `alias ${join(dir, "site")}/;`;
  const guarded = (settings: string): string => `${settings} auth_basic_user_file ${file}; ${site}`;
  return `
  server {
    listen PORT;
    location /auth/ { ${guarded('auth_basic "Restricted Area";')} }
    location /realm/ { ${guarded("auth_basic $arg_realm;")} }
    location /off/ { ${guarded("auth_basic off;")} }
    location /missing/ { auth_basic x; auth_basic_user_file ${join(dir, "none")}; ${site} }
    location /dir/ { auth_basic x; auth_basic_user_file ${dir}; ${site} }
    location /any-allowed/ { satisfy any; allow 127.0.0.1; deny all; ${guarded("auth_basic x;")} }
    location /any-denied/ { satisfy any; deny all; ${guarded("auth_basic x;")} }
    location /any-noauth/ { satisfy any; deny all; ${site} }
    location /all-denied/ { satisfy all; deny all; ${guarded("auth_basic x;")} }
    location /custom/ { error_page 401 /page401.html; ${guarded("auth_basic x;")} }
    location = /page401.html { root ${join(dir, "site")}; }
    location /all-allowed/ { allow 127.0.0.1; deny all; ${guarded("auth_basic x;")} }
  }`;
}

const basic = (user: string, password: string): string =>
  `Authorization: Basic ${Buffer.from(`${user}:${password}`).toString("base64")}\r\n`;

/** [location, Authorization line or ""]: each asks for the location's ok.txt. */
const CASES: Array<[string, string]> = [
  ...USERS.map((user): [string, string] => ["/auth/", basic(user, "secret")]),
  ...USERS.map((user): [string, string] => ["/auth/", basic(user, "wrong")]),
  ["/auth/", basic("garbage", "secret")],
  ["/auth/", basic("nobody", "secret")],
  ["/auth/", basic("#", "x")],
  ["/auth/", ""],
  ["/auth/", "Authorization: Bearer abc\r\n"],
  ["/auth/", "Authorization: Basic !!!\r\n"],
  ["/realm/?realm=Team", ""],
  ["/realm/?realm=off", ""],
  ["/off/", ""],
  ["/missing/", basic("plain", "secret")],
  ["/missing/", ""],
  ["/dir/", basic("plain", "secret")],
  ["/any-allowed/", ""],
  ["/any-denied/", ""],
  ["/any-denied/", basic("plain", "secret")],
  ["/any-denied/", basic("plain", "wrong")],
  ["/any-noauth/", ""],
  ["/all-denied/", basic("plain", "secret")],
  ["/all-allowed/", ""],
  ["/custom/", ""],
  ["/custom/", basic("plain", "secret")],
  ["/all-allowed/", basic("sha512", "secret")],
];

/** The location's file, its query kept. */
const target = (path: string): string => path.replace(/\/(\?|$)/, "/ok.txt$1");

/** The reply, Date and Server aside; the file's time and tag are the same file's. */
function comparable(reply: Buffer): string {
  return reply
    .toString("latin1")
    .split("\r\n")
    .filter((line) => !/^(date|server):/i.test(line))
    .join("\n")
    .replace(/nginx\/\d+\.\d+\.\d+|wsgate\/\d+\.\d+\.\d+/g, "SERVER");
}

describe("differential: auth_basic", { skip }, () => {
  let dir = "";
  const peers = peersWith(
    async () => {
      dir = makeTempDir("auth-basic");
      writeFileSync(join(dir, "htpasswd"), HTPASSWD);
      mkdirSync(join(dir, "site"));
      writeFileSync(join(dir, "site", "ok.txt"), "ok\n");
      writeFileSync(join(dir, "site", "page401.html"), "<p>who are you?</p>\n");
      return conf(dir);
    },
    async () => removeTempDir(dir),
  );

  for (const [path, authorization] of CASES) {
    test(`${path} ${authorization.trim()}`, async () => {
      const request = `GET ${target(path)} HTTP/1.1\r\nHost: a\r\n${authorization}Connection: close\r\n\r\n`;
      const [nginx, wsgate] = await Promise.all([
        exchange(peers.nginx!.port, request),
        exchange(peers.wsgate!.port, request),
      ]);
      assert.equal(comparable(wsgate), comparable(nginx));
    });
  }

  test("the error-log and access-log lines match", async () => {
    await linesEventually(() => peers.wsgate!.accessLog(), CASES.length);
    // The access log names the user ($remote_user) whether or not the password was right.
    assert.deepEqual(comparableLog(peers.wsgate!.accessLog()), comparableLog(peers.nginx!.accessLog()));
    const expected = comparableErrors(peers.nginx!.errorLog());
    assert.ok(expected.some((line) => line.includes('user "nobody" was not found in')));
    assert.ok(expected.some((line) => line.includes('user "plain": password mismatch')));
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), expected);
    const info = (log: string): string[] =>
      log.split("\n").filter((line) => line.includes("no user/password was provided for basic authentication"));
    assert.equal(info(peers.wsgate!.errorLog()).length, info(peers.nginx!.errorLog()).length);
  });

  test("the comparison is not empty: each scheme lets its user in, a wrong password does not", async () => {
    const get = async (authorization: string): Promise<string> =>
      comparable(
        await exchange(
          peers.wsgate!.port,
          `GET /auth/ok.txt HTTP/1.1\r\nHost: a\r\n${authorization}Connection: close\r\n\r\n`,
        ),
      );
    for (const user of USERS) assert.match(await get(basic(user, "secret")), /^HTTP\/1.1 200 [^]*\nok\n$/, user);
    // An error_page for 401 keeps the challenge (nginx's headers_out outlives the internal redirect).
    const custom = comparable(
      await exchange(peers.wsgate!.port, "GET /custom/ok.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
    );
    assert.match(custom, /^HTTP\/1.1 401 [^]*\nWWW-Authenticate: Basic realm="x"\n[^]*who are you/);
    const refused = await get(basic("sha512", "wrong"));
    assert.match(refused, /^HTTP\/1.1 401 /);
    assert.match(refused, /\nWWW-Authenticate: Basic realm="Restricted Area"\n/);
  });
});

describe("differential: auth_basic refusals match nginx -t", { skip }, () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("auth-basic-t");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("nginx's messages", async () => {
    const cases: Array<[string, string | undefined]> = [
      [
        'auth_basic "a b"; auth_basic_user_file conf/htpasswd; satisfy any;\n' +
          "server { listen 127.0.0.1:1; auth_basic off; satisfy ALL; location / { auth_basic $host; auth_basic_user_file $host.pw; } }",
        undefined,
      ],
      ["auth_basic a;\nauth_basic b;", `"auth_basic" directive is duplicate in FILE:4`],
      ["auth_basic_user_file a;\nauth_basic_user_file b;", `"auth_basic_user_file" directive is duplicate in FILE:4`],
      ["auth_basic;", `invalid number of arguments in "auth_basic" directive in FILE:3`],
      ["satisfy some;", `invalid value "some" in FILE:3`],
      ["satisfy any;\nsatisfy all;", `"satisfy" directive is duplicate in FILE:4`],
      [
        "server { listen 127.0.0.1:1; location / { if ($arg_a) { auth_basic x; } } }",
        `"auth_basic" directive is not allowed here in FILE:3`,
      ],
      ["auth_basic_user_file $nosuch;", `unknown "nosuch" variable`],
    ];
    await expectNginxVerdicts(prefix, cases);
  });
});

describe("auth_basic: hash schemes wsgate cannot compute", () => {
  test("a bcrypt or DES line is 500 with a line that names the scheme, not a silent 401", async () => {
    const dir = makeTempDir("auth-basic-unsupported");
    writeFileSync(
      join(dir, "htpasswd"),
      "bc:$2y$05$abcdefghijklmnopqrstuuZFBUbfXoM8LFiPx8LYlO/sXZB/Cwk3K\ndes:seIema1eRMhgQ\n",
    );
    mkdirSync(join(dir, "site"));
    writeFileSync(join(dir, "site", "ok.txt"), "ok\n");
    const peer = await startPeer(
      "wsgate",
      `server { listen PORT; location / { auth_basic x; auth_basic_user_file ${join(dir, "htpasswd")}; root ${join(dir, "site")}; } }`,
    );
    try {
      for (const [user, scheme] of [
        ["bc", "$2y$"],
        ["des", "DES"],
      ]) {
        const reply = await exchange(
          peer.port,
          `GET /ok.txt HTTP/1.1\r\nHost: a\r\n${basic(user!, "pass")}Connection: close\r\n\r\n`,
        );
        assert.match(reply.toString("latin1"), /^HTTP\/1.1 500 /);
        const line = `user "${user!}": the password hash scheme "${scheme!}" of "${join(dir, "htpasswd")}" is not supported by wsgate`;
        await linesEventually(
          () =>
            peer
              .errorLog()
              .split("\n")
              .filter((l) => l.includes(line))
              .join("\n") + "\n",
          1,
        );
        assert.ok(peer.errorLog().includes(`[error] `) && peer.errorLog().includes(line), peer.errorLog());
      }
    } finally {
      await peer.stop();
      removeTempDir(dir);
    }
  });
});
