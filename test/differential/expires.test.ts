/**
 * expires (ngx_http_headers_filter_module) against nginx: the Expires and
 * Cache-Control lines for each argument form (a time, a negative time, 0,
 * epoch, max, modified, @time of day, a variable), on the statuses nginx
 * sets them on and not on the others; on proxied responses (the upstream's
 * own Expires replaced in its place, its first Cache-Control replaced and
 * the others dropped, a hidden one left alone) and on wsgate's own (return,
 * files with their modification time, 304, 206, 416); inheritance, `off`,
 * `if`; and the refusals of nginx -t.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { peersWith, skipWithoutNginx, startScriptedBackend, type ScriptedBackend } from "./peers.js";
import { exchange } from "../support/sockets.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { expectNginxVerdicts } from "../support/test-both.js";

const skip = skipWithoutNginx();

const PAST = "Wed, 01 Jan 2025 00:00:00 GMT";
const FUTURE = "Sat, 01 Jan 2050 00:00:00 GMT";

const reply = (status: string, headers: string): string =>
  `HTTP/1.1 ${status}\r\n${headers}Content-Length: 2\r\nConnection: close\r\n\r\nok`;

/** What the backend answers, by path. */
const SCRIPTS: Readonly<Record<string, string>> = {
  "/plain": reply("200 OK", ""),
  "/created": reply("201 Created", ""),
  "/moved": reply("302 Found", "Location: /x\r\n"),
  "/missing": reply("404 Not Found", ""),
  "/failed": reply("500 Internal Server Error", ""),
  "/own": reply(
    "200 OK",
    "Expires: Thu, 01 Jan 1999 00:00:00 GMT\r\nX-A: 1\r\nCache-Control: private\r\nX-B: 2\r\nCache-Control: no-store\r\n",
  ),
  "/past": reply("200 OK", `Last-Modified: ${PAST}\r\n`),
  "/future": reply("200 OK", `Last-Modified: ${FUTURE}\r\n`),
};

/** Locations: one per form; the proxied ones take the backend's path after the location's name. */
function conf(port: number, root: string): string {
  const pass = (name: string, expires: string, extra = ""): string =>
    `location /${name}/ { ${expires} ${extra} proxy_pass http://127.0.0.1:${port}/; }`;
  return `
  expires 2h;
  server {
    listen PORT;
    ${pass("hour", "expires 1h;", "add_header X-Added yes;")}
    ${pass("inherited", "")}
    ${pass("off", "expires off;")}
    ${pass("negative", "expires -30m;")}
    ${pass("zero", "expires 0;")}
    ${pass("epoch", "expires epoch;")}
    ${pass("max", "expires max;")}
    ${pass("modified", "expires modified 1d;")}
    ${pass("modified-neg", "expires modified -1h;")}
    ${pass("daily", "expires @15h30m;")}
    ${pass("var", "expires $arg_e;")}
    ${pass("var-modified", "expires modified $arg_e;")}
    ${pass("hidden", "expires 1h;", "proxy_hide_header Cache-Control;")}
    ${pass("if", "expires 1h;", "if ($arg_x) { expires 3h; }")}
    location /return/ { expires 1h; return 200 "text\\n"; }
    location /return404/ { expires 1h; return 404; }
    location /redirect/ { expires 1h; port_in_redirect off; return 301 /elsewhere; }
    location /files/ { root ${root}; expires modified 10d; }
    location /files-access/ { alias ${root}/files/; expires 1d; }
  }`;
}

/** The head's lines, Server aside; Date and an Expires counted from now made relative to each other. */
function normalized(head: Buffer, relative: boolean): string[] {
  const text = head.toString("latin1");
  const lines = text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n");
  const value = (name: string): string | undefined =>
    lines.find((line) => line.toLowerCase().startsWith(`${name}: `))?.slice(name.length + 2);
  const date = Date.parse(value("date") ?? "") / 1000;
  const expiresText = value("expires");
  const expires = expiresText === undefined ? NaN : Date.parse(expiresText) / 1000;
  return lines
    .filter((line) => !/^(date|server):/i.test(line))
    .map((line) => {
      if (/^expires: /i.test(line) && relative)
        return `Expires: Date${expires - date >= 0 ? "+" : ""}${expires - date}`;
      // A max-age counted from now equals Expires - Date within the response.
      const age = /^cache-control: max-age=(\d+)$/i.exec(line);
      if (age && Number(age[1]) === expires - date && !relative) return "Cache-Control: max-age=(Expires-Date)";
      return line;
    });
}

describe("differential: expires", { skip }, () => {
  let backend: ScriptedBackend | undefined;
  let root = "";
  const peers = peersWith(
    async () => {
      backend = await startScriptedBackend(SCRIPTS);
      root = makeTempDir("expires-root");
      mkdirSync(join(root, "files"));
      writeFileSync(join(root, "files", "old.html"), "<p>old</p>\n");
      writeFileSync(join(root, "files", "new.txt"), "new\n");
      utimesSync(join(root, "files", "old.html"), new Date(PAST), new Date(PAST));
      utimesSync(join(root, "files", "new.txt"), new Date(FUTURE), new Date(FUTURE));
      return conf(backend.port, root);
    },
    async () => {
      await backend?.close();
      removeTempDir(root);
    },
  );

  /** [path, extra request headers, whether Expires counts from now]. */
  const cases: Array<[string, string, boolean]> = [
    ["/hour/plain", "", true],
    ["/hour/created", "", true],
    ["/hour/moved", "", true],
    ["/hour/missing", "", true],
    ["/hour/failed", "", true],
    ["/hour/own", "", true],
    ["/inherited/plain", "", true],
    ["/off/plain", "", true],
    ["/negative/plain", "", true],
    ["/zero/plain", "", true],
    ["/epoch/own", "", false],
    ["/max/plain", "", false],
    ["/modified/past", "", false],
    ["/modified/future", "", false],
    ["/modified/plain", "", true],
    ["/modified-neg/future", "", false],
    ["/daily/plain", "", false],
    ["/var/plain?e=2h", "", true],
    ["/var/plain?e=-1", "", true],
    ["/var/plain?e=epoch", "", false],
    ["/var/plain?e=max", "", false],
    ["/var/plain?e=off", "", true],
    ["/var/plain?e=bad", "", true],
    ["/var/plain?e=@1h", "", false],
    ["/var/plain", "", true],
    ["/var-modified/past?e=1d", "", false],
    ["/var-modified/past?e=epoch", "", true],
    ["/var-modified/past?e=@1h", "", true],
    ["/hidden/own", "", true],
    ["/if/plain", "", true],
    ["/if/plain?x=1", "", true],
    ["/return/", "", true],
    ["/return404/", "", true],
    ["/redirect/", "", true],
    ["/files/old.html", "", false],
    ["/files/new.txt", "", false],
    ["/files/old.html", `If-Modified-Since: ${PAST}\r\n`, false],
    ["/files/old.html", "Range: bytes=0-2\r\n", false],
    ["/files/old.html", "Range: bytes=500-600\r\n", false],
    ["/files/none.html", "", true],
    ["/files-access/old.html", "", true],
  ];

  for (const [path, headers, relative] of cases) {
    test(`${path} ${headers.trim()}`, async () => {
      const request = `GET ${path} HTTP/1.1\r\nHost: a\r\n${headers}Connection: close\r\n\r\n`;
      const [nginx, wsgate] = await Promise.all([
        exchange(peers.nginx!.port, request),
        exchange(peers.wsgate!.port, request),
      ]);
      assert.deepEqual(normalized(wsgate, relative), normalized(nginx, relative));
    });
  }

  test("the forms give what nginx documents (the comparison is not empty)", async () => {
    const head = async (path: string): Promise<string[]> =>
      normalized(
        await exchange(peers.wsgate!.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`),
        true,
      );
    assert.ok((await head("/hour/plain")).includes("Expires: Date+3600"));
    assert.ok((await head("/hour/plain")).includes("Cache-Control: max-age=3600"));
    assert.ok((await head("/negative/plain")).includes("Cache-Control: no-cache"));
    assert.ok((await head("/inherited/plain")).includes("Cache-Control: max-age=7200"));
    assert.ok(!(await head("/hour/missing")).some((line) => line.startsWith("Expires")));
    const own = await head("/hour/own");
    assert.deepEqual(
      own.filter((line) => /^(expires|cache-control|x-)/i.test(line)),
      ["Expires: Date+3600", "X-A: 1", "Cache-Control: max-age=3600", "X-B: 2", "X-Added: yes"],
    );
  });
});

describe("differential: expires refusals match nginx -t", { skip }, () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("expires-t");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("nginx's messages", async () => {
    const cases: Array<[string, string | undefined]> = [
      [
        "expires 1y2M3w4d5h6m7s; server { listen 127.0.0.1:1; expires @23h59m; location / { expires max; } }",
        undefined,
      ],
      ["expires modified epoch;", `"expires" directive invalid value in FILE:3`],
      ["expires access 1h;", `"expires" directive invalid value in FILE:3`],
      ["expires modified @1h;", `"expires" directive daily time cannot be used with "modified" parameter in FILE:3`],
      ["expires @25h;", `"expires" directive daily time value must be less than 24 hours in FILE:3`],
      ["expires 1h1h;", `"expires" directive invalid value in FILE:3`],
      ["expires 100ms;", `"expires" directive invalid value in FILE:3`],
      ["expires +;", `"expires" directive invalid value in FILE:3`],
      ["expires 1h;\nexpires 2h;", `"expires" directive is duplicate in FILE:4`],
      ["expires 1 2 3;", `invalid number of arguments in "expires" directive in FILE:3`],
      ["expires $nosuch;", `unknown "nosuch" variable`],
    ];
    await expectNginxVerdicts(prefix, cases);
  });
});
