/**
 * Directory listings (autoindex) under nginx and wsgate: one tree of files
 * with names to escape and cut (spaces, <, ", &, a tab, UTF-8, 47 to 60
 * characters), sizes on every scale, fixed times, a subdirectory, a link to
 * it, a dangling link and a dot file; every format, both size styles, local
 * time in a zone with a half-hour offset. The replies must match byte for
 * byte (Date and Server aside), and so must the error-log lines.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { chmodSync, mkdirSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { skipWithoutNginx } from "../differential/peers.js";
import {
  PERMISSIONS_APPLY,
  comparable,
  errorLines,
  openTempDir,
  rawExchange,
  startStaticPeer,
  type StaticPeer,
} from "./harness.js";

const skip = skipWithoutNginx();

/** 2026-12-06 16:14:57 UTC, and a second time in another year, month and hour. */
const MTIME = 1796573697;
const OTHER_MTIME = 1709251199;

/** name → size (a number: a sparse file of that size), or "dir". */
const TREE: Record<string, number | "dir"> = {
  "a b<c>.txt": 5,
  'q"&x.txt': 1,
  "tab\there": 2,
  "!$'()*+,;=@[]~-_.txt": 3,
  empty: 0,
  n9999: 9999,
  n10000: 10000,
  n10752: 10752,
  n10751: 10751,
  "one-and-a-half-m": 1024 * 1024 + 512 * 1024,
  "just-under-half": 1024 * 1024 + 512 * 1024 - 1,
  "giant.iso": 3 * 1024 * 1024 * 1024 + 1,
  ["x".repeat(50)]: 1,
  ["y".repeat(51)]: 1,
  ["z".repeat(60) + "<&>"]: 1,
  ["é".repeat(30) + "long.txt"]: 1,
  "naïve.txt": 4,
  ".hidden": 1,
  sub: "dir",
  ["d".repeat(49)]: "dir",
  ["e".repeat(50)]: "dir",
  ["f".repeat(48) + "<"]: "dir",
  noindex: "dir",
};

function makeTree(docroot: string): void {
  for (const [name, what] of Object.entries(TREE)) {
    const path = join(docroot, name);
    if (what === "dir") mkdirSync(path);
    else {
      writeFileSync(path, "");
      if (what > 0) truncateSync(path, what);
    }
    utimesSync(path, MTIME, name.startsWith("n1") ? OTHER_MTIME : MTIME);
  }
  symlinkSync("sub", join(docroot, "link-to-sub"));
  symlinkSync("nowhere", join(docroot, "dangling"));
  writeFileSync(join(docroot, "sub", "inner.txt"), "inner\n");
  utimesSync(join(docroot, "sub", "inner.txt"), OTHER_MTIME, OTHER_MTIME);
  mkdirSync(join(docroot, "withindex"));
  writeFileSync(join(docroot, "withindex", "index.html"), "the index\n");
  // Searchable, not readable: the index file is looked up, the listing cannot be read.
  mkdirSync(join(docroot, "unreadable"));
  chmodSync(join(docroot, "unreadable"), 0o111);
}

function conf(docroot: string): string {
  return `
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:PORT;
    root ${docroot};
    location / { autoindex on; }
    location /human/ { alias ${docroot}/; autoindex on; autoindex_exact_size off; autoindex_localtime on; }
    location /json/ { alias ${docroot}/; autoindex on; autoindex_format json; }
    location /jsonp/ { alias ${docroot}/; autoindex on; autoindex_format jsonp; }
    location /xml/ { alias ${docroot}/; autoindex on; autoindex_format xml; }
    location /off/ { alias ${docroot}/; }
    location /http10/ { alias ${docroot}/sub/; autoindex on; chunked_transfer_encoding off; }
  }`;
}

const get = (path: string, extra = ""): string =>
  `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}Connection: close\r\n\r\n`;

const CASES: ReadonlyArray<readonly [string, string]> = [
  ["html, exact sizes", get("/")],
  ["html, a subdirectory", get("/sub/")],
  ["html, a name with < in the URI", get("/" + "f".repeat(48) + "%3C/")],
  ["html, sizes scaled, local time", get("/human/")],
  ["json", get("/json/")],
  ["jsonp with a callback", get("/jsonp/?callback=cb.x_1")],
  ["jsonp without a callback is json", get("/jsonp/")],
  ["jsonp with an empty callback", get("/jsonp/?a=1&callback=")],
  ["jsonp with an invalid callback", get("/jsonp/?callback=alert(1)")],
  ["jsonp with a callback too long", get("/jsonp/?callback=" + "c".repeat(129))],
  ["jsonp with a callback of 128", get("/jsonp/?Callback=" + "c".repeat(128))],
  ["xml", get("/xml/")],
  ["HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["HTTP/1.0", "GET /sub/ HTTP/1.0\r\n\r\n"],
  ["chunked_transfer_encoding off", get("/http10/")],
  ["POST is not listed", "POST /sub/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"],
  ["an index file comes first", get("/withindex/")],
  ["autoindex off", get("/off/")],
  ["a missing directory", get("/nodir/")],
  ["a file as a directory", get("/empty/")],
  ["keep-alive after a listing", `GET /sub/ HTTP/1.1\r\nHost: a\r\n\r\n${get("/json/sub/")}`],
];

describe("autoindex: nginx and wsgate list a directory byte for byte", { skip }, () => {
  let docroot: string;
  let nginx: StaticPeer;
  let wsgate: StaticPeer;
  const savedTz = process.env.TZ;

  before(async () => {
    docroot = openTempDir("autoindex");
    makeTree(docroot);
    // Both servers read the zone from TZ (nginx keeps TZ): a half-hour offset shows minutes are applied.
    process.env.TZ = "Asia/Kolkata";
    try {
      [nginx, wsgate] = await Promise.all([
        startStaticPeer("nginx", conf(docroot)),
        startStaticPeer("wsgate", conf(docroot)),
      ]);
    } finally {
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    }
  });

  after(async () => {
    await Promise.all([nginx?.stop(), wsgate?.stop()]);
    chmodSync(join(docroot, "unreadable"), 0o755);
    rmSync(docroot, { recursive: true, force: true });
  });

  for (const [name, request] of CASES) {
    test(name, async () => {
      const [fromNginx, fromWsgate] = await Promise.all([
        rawExchange(nginx.port, request),
        rawExchange(wsgate.port, request),
      ]);
      assert.equal(comparable(fromWsgate, wsgate.port), comparable(fromNginx, nginx.port));
    });
  }

  test("a directory that cannot be read: 403 and nginx's opendir() line", { skip: !PERMISSIONS_APPLY }, async () => {
    const request = get("/unreadable/");
    const [fromNginx, fromWsgate] = await Promise.all([
      rawExchange(nginx.port, request),
      rawExchange(wsgate.port, request),
    ]);
    assert.equal(comparable(fromWsgate, wsgate.port), comparable(fromNginx, nginx.port));
    assert.match(fromWsgate.toString("latin1"), /^HTTP\/1\.1 403 /);
  });

  test("the listing is what the tree holds (not only what nginx says)", async () => {
    const reply = (await rawExchange(wsgate.port, get("/json/"))).toString("utf8");
    const body = reply.slice(reply.indexOf("\r\n\r\n") + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, "");
    const listed = JSON.parse(body) as Array<{ name: string; type: string; size?: number }>;
    assert.equal(listed[0]!.type, "directory");
    assert.ok(!listed.some((entry) => entry.name.startsWith(".")), "dot files are not listed");
    assert.equal(listed.find((entry) => entry.name === "giant.iso")?.size, 3 * 1024 * 1024 * 1024 + 1);
    assert.equal(listed.find((entry) => entry.name === "link-to-sub")?.type, "directory");
    assert.equal(listed.find((entry) => entry.name === "dangling")?.type, "other");
    assert.equal(listed.find((entry) => entry.name === "tab\there")?.type, "file");
  });

  test("the error logs say the same", () => {
    assert.deepEqual(errorLines(wsgate.errorLog()), errorLines(nginx.errorLog()));
  });
});
