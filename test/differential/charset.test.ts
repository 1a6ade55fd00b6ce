/**
 * ngx_http_charset_module against nginx: the `; charset=` added to the
 * Content-Type of types in charset_types (files, `return`, error pages) and
 * not to others, nor to 301/302; proxied responses with and without an
 * upstream charset, override_charset, X-Accel-Charset, charset by variable,
 * source_charset with and without a difference (nginx's "no charset_map"
 * line when a body would need recoding), charset_types `*` and additions;
 * and nginx -t's refusals.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { comparableErrors, peersWith, skipWithoutNginx, startScriptedBackend, type ScriptedBackend } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { runCli } from "../cli/run-cli.js";
import { expectNginxVerdicts } from "../support/test-both.js";

const skip = skipWithoutNginx();

const reply = (status: string, headers: string): string =>
  `HTTP/1.1 ${status}\r\n${headers}Content-Length: 2\r\nConnection: close\r\n\r\nok`;

const SCRIPTS: Readonly<Record<string, string>> = {
  "/html": reply("200 OK", "Content-Type: text/html\r\n"),
  "/latin": reply("200 OK", "Content-Type: text/html; charset=iso-8859-1\r\n"),
  "/upper": reply("200 OK", 'Content-Type: text/html; charset="UTF-8"\r\n'),
  "/png": reply("200 OK", "Content-Type: image/png\r\n"),
  "/param": reply("200 OK", "Content-Type: text/html;level=1\r\n"),
  "/css": reply("200 OK", "Content-Type: text/css\r\n"),
  "/none": reply("200 OK", ""),
  "/found": reply("302 Found", "Location: /x\r\nContent-Type: text/html\r\n"),
  "/created": reply("201 Created", "Content-Type: TEXT/HTML\r\n"),
  "/accel": reply("200 OK", "Content-Type: text/html\r\nX-Accel-Charset: utf-8\r\n"),
  "/accel-unknown": reply("200 OK", "Content-Type: text/html\r\nX-Accel-Charset: klingon\r\n"),
  "/gzipped": reply("200 OK", "Content-Type: text/html\r\nContent-Encoding: gzip\r\n"),
};

function conf(port: number, root: string): string {
  const pass = (name: string, settings: string): string =>
    `location /${name}/ { ${settings} proxy_pass http://127.0.0.1:${port}/; }`;
  return `
  types { text/html html; image/png png; application/javascript js; text/css css; }
  default_type text/plain;
  charset utf-8;
  server {
    listen PORT;
    root ${root};
    port_in_redirect off;
    location / { }
    location /return/ { return 200 "text\\n"; }
    location /redirect/ { return 302 /elsewhere; }
    location /temporary/ { return 307 /elsewhere; }
    location /off/ { charset off; }
    location /star/ { charset_types *; alias ${root}/; }
    ${pass("p", "")}
    ${pass("override", "override_charset on;")}
    ${pass("css", "charset_types text/css;")}
    ${pass("any", "charset_types *;")}
    ${pass("koi", "charset koi8-r;")}
    ${pass("accel-ignored", "proxy_ignore_headers X-Accel-Charset;")}
    location /declared/ { charset off; source_charset windows-1251; }
    ${pass("same", "charset UTF-8; source_charset utf-8;")}
    ${pass("var", "charset $arg_cs;")}
    ${pass("var-source", "charset $arg_cs; source_charset $arg_src;")}
    ${pass("if", "if ($arg_x) { charset windows-1251; }")}
  }`;
}

/** The head's lines, Date and Server aside. */
function head(reply: Buffer): string[] {
  const text = reply.toString("latin1");
  return text
    .slice(0, text.indexOf("\r\n\r\n"))
    .split("\r\n")
    .filter((line) => !/^(date|server):/i.test(line));
}

describe("differential: charset", { skip }, () => {
  let backend: ScriptedBackend | undefined;
  let root = "";
  const peers = peersWith(
    async () => {
      backend = await startScriptedBackend(SCRIPTS);
      root = makeTempDir("charset-root");
      mkdirSync(join(root, "off"));
      for (const name of ["page.html", "image.png", "app.js", "style.css", "off/page.html"])
        writeFileSync(join(root, name), "x\n");
      return conf(backend.port, root);
    },
    async () => {
      await backend?.close();
      removeTempDir(root);
    },
  );

  const paths = [
    "/page.html",
    "/image.png",
    "/app.js",
    "/style.css",
    "/missing.html",
    "/off/page.html",
    "/return/",
    "/redirect/",
    "/temporary/",
    "/p/html",
    "/p/latin",
    "/p/png",
    "/p/param",
    "/p/none",
    "/p/found",
    "/p/created",
    "/p/accel",
    "/p/accel-unknown",
    "/accel-ignored/accel",
    "/override/latin",
    "/override/upper",
    "/override/png",
    "/css/css",
    "/css/html",
    "/any/png",
    "/koi/html",
    "/var-source/gzipped?cs=koi8-r&src=windows-1251",
    "/var-source/html?cs=koi8-r&src=windows-1251",
    "/var-source/html?cs=KOI8-R&src=koi8-r",
    "/same/html",
    "/var/html?cs=windows-1251",
    "/var/html?cs=utf-8",
    "/var-source/html?cs=x-custom&src=x-custom",
    "/var-source/html?cs=x-a&src=x-b",
    "/var-source/html?cs=utf-8&src=x-b",
    "/if/html",
    "/if/html?x=1",
  ];

  for (const path of paths) {
    test(path, async () => {
      const request = `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
      const [nginx, wsgate] = await Promise.all([
        exchange(peers.nginx!.port, request),
        exchange(peers.wsgate!.port, request),
      ]);
      assert.deepEqual(head(wsgate), head(nginx));
    });
  }

  test("a multipart range answer names the charset in its parts, not in its own type", async () => {
    for (const path of ["/page.html", "/star/page.html"]) {
      const request = `GET ${path} HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0,1-1\r\nConnection: close\r\n\r\n`;
      const nginx = await exchange(peers.nginx!.port, request);
      const wsgate = await exchange(peers.wsgate!.port, request);
      const whole = (reply: Buffer): string => reply.toString("latin1").replace(/^(Date|Server): [^\r]*\r\n/gim, "");
      assert.equal(whole(wsgate), whole(nginx));
      assert.match(whole(wsgate), /\r\nContent-Type: multipart\/byteranges; boundary=\d+\r\n/);
      assert.match(whole(wsgate), /\r\nContent-Type: text\/html; charset=utf-8\r\nContent-Range: bytes 0-0\/2\r\n/);
    }
  });

  test("the charset is where nginx puts it (the comparison is not empty)", async () => {
    const get = async (path: string): Promise<string[]> =>
      head(await exchange(peers.wsgate!.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`));
    assert.ok((await get("/page.html")).includes("Content-Type: text/html; charset=utf-8"));
    assert.ok((await get("/image.png")).includes("Content-Type: image/png"));
    assert.ok((await get("/p/latin")).includes("Content-Type: text/html; charset=iso-8859-1"));
    assert.ok((await get("/override/upper")).includes("Content-Type: text/html; charset=utf-8"));
  });

  test("the error-log lines match (no charset_map, unknown charset to override)", async () => {
    const expected = comparableErrors(peers.nginx!.errorLog());
    assert.ok(expected.some((line) => line.includes('no "charset_map" between the charsets')));
    assert.ok(expected.some((line) => line.includes('unknown charset "klingon" to override')));
    await linesEventually(() => peers.wsgate!.accessLog(), paths.length + 4);
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), expected);
  });
});

describe("differential: charset refusals match nginx -t", { skip }, () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("charset-t");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("nginx's messages", async () => {
    const cases: Array<[string, string | undefined]> = [
      [
        "charset utf-8; source_charset utf-8; override_charset on; charset_types text/css *;\n" +
          "server { listen 127.0.0.1:1; charset off; location / { if ($arg_a) { charset $arg_a; override_charset off; } } }",
        undefined,
      ],
      ["charset utf-8;\ncharset koi8-r;", `"charset" directive is duplicate in FILE:4`],
      [
        "charset utf-8; server { listen 127.0.0.1:1; location / { source_charset KOI8-R; } location /b { charset koi8-r; } }",
        `no "charset_map" between the charsets "KOI8-R" and "utf-8"`,
      ],
      ["charset utf-8; source_charset utf-8; server { listen 127.0.0.1:1; charset UTF-8; }", undefined],
      ["source_charset a;\nsource_charset b;", `"source_charset" directive is duplicate in FILE:4`],
      [
        "override_charset maybe;",
        `invalid value "maybe" in "override_charset" directive, it must be "on" or "off" in FILE:3`,
      ],
      [
        "server { listen 127.0.0.1:1; location / { if ($arg_a) { charset_types text/css; } } }",
        `"charset_types" directive is not allowed here in FILE:3`,
      ],
      ["charset;", `invalid number of arguments in "charset" directive in FILE:3`],
      ["charset $nosuch;", `unknown "nosuch" variable`],
    ];
    await expectNginxVerdicts(prefix, cases);
  });

  test("charset_map is refused by name (wsgate does not recode bodies)", async () => {
    const file = join(prefix, "map.conf");
    writeTree(prefix, { "map.conf": "events {}\nhttp {\ncharset_map koi8-r utf-8 { C0 D18E; }\n}\n" });
    const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
    assert.match(run.stderr, /"charset_map" directive is not supported by wsgate/);
    assert.equal(run.code, 1);
  });

  test("a type given twice is nginx's warning", async () => {
    const file = join(prefix, "dup.conf");
    writeTree(prefix, { "dup.conf": "events {}\nhttp {\ncharset_types text/html text/css text/css;\n}\n" });
    const run = await runCli(["-t", "-p", prefix, "-c", file]);
    const warn = run.stderr.split("\n").find((line) => line.includes("[warn] "));
    assert.equal(warn?.slice(warn.indexOf("[warn] ") + 7), `duplicate MIME type "text/html" in ${file}:3`);
    const nginx = nginxTest({ prefix, confFile: file });
    if (nginx) assert.match(nginx.stderr, new RegExp(`duplicate MIME type "text/html" in ${file}:3`));
  });
});
