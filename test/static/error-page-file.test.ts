/**
 * A file served as an error page, and add_header next to the range filter,
 * under nginx and wsgate byte for byte:
 * - error_page 404 /404.html answers the file with status 404 (r->err_status
 *   reaches every filter): ETag kept, no Last-Modified, no Accept-Ranges,
 *   Range and If-None-Match ignored, add_header only with `always`;
 * - add_header's lines come before Accept-Ranges and Content-Range (the
 *   headers filter runs before the range filter, and sees 200 where the
 *   range filter then makes 206 or 416: a 416 carries the lines added at
 *   200, Content-Range, then the `always` lines once more).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { skipWithoutNginx } from "../differential/peers.js";
import { comparable, openTempDir, rawExchange, startStaticPeer, type StaticPeer } from "./harness.js";

const skip = skipWithoutNginx();

const MTIME = 1767323045;
const FILES: Record<string, string> = {
  "404.html": "<p>not found</p>\n",
  "f.txt": "0123456789abcdefghij",
  "hdr/f.txt": "0123456789abcdefghij",
};
const ETAG_404 = `"${MTIME.toString(16)}-${(18).toString(16)}"`;

function conf(docroot: string): string {
  return `
  server {
    listen 127.0.0.1:PORT;
    root ${docroot};
    error_page 404 /404.html;
    location = /404.html { internal; add_header X-Page yes; add_header X-Always yes always; }
    location /hdr/ { add_header X-A a; add_header X-B b always; }
  }`;
}

const CLOSE = "Host: a\r\nConnection: close\r\n\r\n";

/** [name, request, the status line wsgate must send]. */
const CASES: ReadonlyArray<readonly [string, string, string]> = [
  ["a missing file: the page with 404", `GET /missing HTTP/1.1\r\n${CLOSE}`, "HTTP/1.1 404 Not Found"],
  ["the page asked for directly", `GET /404.html HTTP/1.1\r\n${CLOSE}`, "HTTP/1.1 404 Not Found"],
  ["a missing file, HEAD", `HEAD /missing HTTP/1.1\r\n${CLOSE}`, "HTTP/1.1 404 Not Found"],
  ["a missing file with Range", `GET /missing HTTP/1.1\r\nRange: bytes=0-3\r\n${CLOSE}`, "HTTP/1.1 404 Not Found"],
  [
    "a missing file with the page's ETag",
    `GET /missing HTTP/1.1\r\nIf-None-Match: ${ETAG_404}\r\n${CLOSE}`,
    "HTTP/1.1 404 Not Found",
  ],
  ["add_header and Accept-Ranges", `GET /hdr/f.txt HTTP/1.1\r\n${CLOSE}`, "HTTP/1.1 200 OK"],
  [
    "add_header and Content-Range",
    `GET /hdr/f.txt HTTP/1.1\r\nRange: bytes=2-5\r\n${CLOSE}`,
    "HTTP/1.1 206 Partial Content",
  ],
  [
    "add_header and a 416",
    `GET /hdr/f.txt HTTP/1.1\r\nRange: bytes=50-60\r\n${CLOSE}`,
    "HTTP/1.1 416 Requested Range Not Satisfiable",
  ],
  [
    "add_header and a 304",
    `GET /hdr/f.txt HTTP/1.1\r\nIf-None-Match: "${MTIME.toString(16)}-14"\r\n${CLOSE}`,
    "HTTP/1.1 304 Not Modified",
  ],
];

describe("a file as an error page; add_header and the range filter", { skip }, () => {
  let docroot: string;
  let nginx: StaticPeer;
  let wsgate: StaticPeer;
  before(async () => {
    docroot = openTempDir("error-page-file");
    for (const [name, text] of Object.entries(FILES)) {
      mkdirSync(join(docroot, name, ".."), { recursive: true });
      writeFileSync(join(docroot, name), text);
      utimesSync(join(docroot, name), MTIME, MTIME);
    }
    nginx = await startStaticPeer("nginx", conf(docroot));
    wsgate = await startStaticPeer("wsgate", conf(docroot));
  });
  after(async () => {
    await nginx?.stop();
    await wsgate?.stop();
    if (docroot) rmSync(docroot, { recursive: true, force: true });
  });

  for (const [name, request, statusLine] of CASES) {
    test(name, async () => {
      const expected = comparable(await rawExchange(nginx.port, request), nginx.port);
      const actual = comparable(await rawExchange(wsgate.port, request), wsgate.port);
      assert.equal(actual.split("\r\n")[0], statusLine);
      assert.equal(actual, expected);
    });
  }
});
