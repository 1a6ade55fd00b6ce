/**
 * Static files under nginx and wsgate: one configuration, one tree of files,
 * the same raw requests; the replies must match byte for byte (Date, Server
 * and the product token in error pages aside), and so must the error-log
 * lines and an access log of the file variables.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { chmodSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { skipWithoutNginx, startRecordingBackend, type RecordingBackend } from "../differential/peers.js";
import {
  PERMISSIONS_APPLY,
  comparable,
  errorLines,
  openTempDir,
  rawExchange,
  startStaticPeer,
  type StaticPeer,
} from "./harness.js";
import { ROOT } from "../support/proxy.js";
import { until } from "../support/wait.js";

const skip = skipWithoutNginx();

/** 2026-01-02 03:04:05 UTC: every file gets this mtime, so ETag and Last-Modified are known. */
const MTIME = 1767323045;
const LAST_MODIFIED = "Fri, 02 Jan 2026 03:04:05 GMT";
const ETAG = `"${MTIME.toString(16)}-14"`;

const FILES: Record<string, string> = {
  "index.html": "<p>home</p>\n",
  "f.txt": "0123456789abcdefghij",
  "notes.md": "# notes\n",
  "empty.txt": "",
  "a.CSS": "b{}\n",
  ".hidden": "x\n",
  "unknown.xyz": "?\n",
  "sp ace.txt": "space\n",
  "dir/index.html": "<p>dir</p>\n",
  "dir/f.txt": "dir file\n",
  "noindex/f.txt": "no index here\n",
  "idx/other.html": "other\n",
  "idx/chosen.html": "chosen\n",
  "tf/real.txt": "real\n",
  "tf/sub/index.html": "tf sub\n",
  "named/tf/gone.txt": "from the named location\n",
  "secret.txt": "secret\n",
  "locked/index.html": "locked\n",
  "vhost/host/f.txt": "virtual host\n",
  "dir/cap/dir/f.txt": "captured root\n",
  "app/here.txt": "served before the backend\n",
};

function conf(docroot: string, backend: number): string {
  return `
  include ${join(ROOT, "conf", "mime.types")};
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  autoindex off;
  log_format files '$status "$uri" "$request_filename" "$document_root" "$realpath_root" $body_bytes_sent';
  server {
    listen 127.0.0.1:PORT;
    server_name static.test;
    root ${docroot};
    access_log logs/files.log files;
    location /al/ { alias ${docroot}/dir/; }
    location ~ ^/re/(.+)$ { alias ${docroot}/$1; }
    location /tf/ { try_files $uri $uri/ @named; }
    location /tf2/ { try_files $uri /f.txt; }
    location /tf3/ { try_files $uri =404; }
    location /tf4/ { try_files /nothing /f.txt?from=tf4; }
    location @named { root ${docroot}/named; }
    location /idx/ { index none.html $arg_i other.html; }
    location /abs/ { alias ${docroot}/noindex/; index /f.txt; }
    location /noetag/ { etag off; alias ${docroot}/; }
    location /before/ { if_modified_since before; alias ${docroot}/; }
    location /imsoff/ { if_modified_since off; alias ${docroot}/; }
    location /one/ { max_ranges 1; alias ${docroot}/; }
    location /norange/ { max_ranges 0; alias ${docroot}/; }
    location /quiet/ { log_not_found off; alias ${docroot}/; }
    location /rel/ { absolute_redirect off; alias ${docroot}/; }
    location /noport/ { port_in_redirect off; alias ${docroot}/; }
    location /byname/ { server_name_in_redirect on; alias ${docroot}/; }
    location /types/ { types { application/x-text txt; text/x-last TXT; } types { text/x-second md; } alias ${docroot}/; }
    location /ka/ { keepalive_timeout 30s 25; alias ${docroot}/; }
    location = /status { stub_status; }
    location /app/ { try_files $uri @backend; }
    location @backend { proxy_pass http://127.0.0.1:${backend}; }
    location /loop/ { try_files /nothing /loop/again; }
    location /lost/ { try_files /nothing @nowhere; }
    location ~ ^/cap/(\\w+)/ { root ${docroot}/$1; }
    location /host/ { root ${docroot}/$host; }
    location /link/ { alias ${docroot}/linked/; }
    location /varidx/ { index $arg_to; }
  }`;
}

/** [name, request]. Every request ends with one that closes the connection. */
const CASES: ReadonlyArray<readonly [string, string]> = [
  ["a file", "GET /f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an empty file", "GET /empty.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["HTTP/1.0", "GET /f.txt HTTP/1.0\r\n\r\n"],
  ["HEAD", "HEAD /f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["the index of /", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["the index of a directory", "GET /dir/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a directory without slash", "GET /dir HTTP/1.1\r\nHost: example.com:1234\r\nConnection: close\r\n\r\n"],
  ["a directory without slash, with args", "GET /dir?a=1&b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a directory without slash, no Host", "GET /dir HTTP/1.0\r\n\r\n"],
  ["a directory without index", "GET /noindex/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a missing directory", "GET /nodir/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a missing file", "GET /missing.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a file as a directory", "GET /f.txt/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a path through a file", "GET /f.txt/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["log_not_found off", "GET /quiet/missing.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an escaped name", "GET /sp%20ace.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["POST to a file", "POST /f.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"],
  ["POST to a directory's index", "POST /dir/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"],
  ["POST to a missing file", "POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"],
  ["PUT to a file", "PUT /f.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"],
  ["DELETE a directory", "DELETE /dir/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a GET with a body", "GET /f.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody"],
  // Types.
  ["an upper-case extension", "GET /a.CSS HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a dot file", "GET /.hidden HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an unknown extension", "GET /unknown.xyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a location's types, an extension named twice", "GET /types/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a location's second types block", "GET /types/notes.md HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a type the location's types lack", "GET /types/a.CSS HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  [
    "keepalive_timeout with a header",
    "GET /ka/f.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /ka/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ],
  [
    "keep-alive, pipelined",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\n\r\nHEAD /dir HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET /index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ],
  // Conditional requests.
  [
    "If-Modified-Since equal",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: ${LAST_MODIFIED}\r\nConnection: close\r\n\r\n`,
  ],
  [
    "If-Modified-Since later",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sat, 03 Jan 2026 00:00:00 GMT\r\nConnection: close\r\n\r\n",
  ],
  [
    "If-Modified-Since later, before",
    "GET /before/f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sat, 03 Jan 2026 00:00:00 GMT\r\nConnection: close\r\n\r\n",
  ],
  [
    "If-Modified-Since, off",
    `GET /imsoff/f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: ${LAST_MODIFIED}\r\nConnection: close\r\n\r\n`,
  ],
  [
    "If-Modified-Since in RFC 850",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Friday, 02-Jan-26 03:04:05 GMT\r\nConnection: close\r\n\r\n",
  ],
  [
    "If-Modified-Since in asctime",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Fri Jan  2 03:04:05 2026\r\nConnection: close\r\n\r\n",
  ],
  [
    "If-Modified-Since invalid",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: yesterday\r\nConnection: close\r\n\r\n",
  ],
  ["If-None-Match", `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: ${ETAG}\r\nConnection: close\r\n\r\n`],
  ["If-None-Match weak", `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/${ETAG}\r\nConnection: close\r\n\r\n`],
  [
    "If-None-Match list",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: "a", ${ETAG} , "b"\r\nConnection: close\r\n\r\n`,
  ],
  ["If-None-Match *", "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n"],
  ["If-None-Match other", `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: "zz"\r\nConnection: close\r\n\r\n`],
  ["If-None-Match and HEAD", `HEAD /f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: ${ETAG}\r\nConnection: close\r\n\r\n`],
  ["If-Match", `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Match: ${ETAG}\r\nConnection: close\r\n\r\n`],
  ["If-Match other", `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Match: "zz"\r\nConnection: close\r\n\r\n`],
  ["If-Match weak", `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Match: W/${ETAG}\r\nConnection: close\r\n\r\n`],
  [
    "If-Unmodified-Since earlier",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: Thu, 01 Jan 2026 00:00:00 GMT\r\nConnection: close\r\n\r\n",
  ],
  [
    "If-Unmodified-Since equal",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: ${LAST_MODIFIED}\r\nConnection: close\r\n\r\n`,
  ],
  [
    "If-Unmodified-Since invalid",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: never\r\nConnection: close\r\n\r\n",
  ],
  [
    "etag off, If-None-Match",
    `GET /noetag/f.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: ${ETAG}\r\nConnection: close\r\n\r\n`,
  ],
  ["etag off, If-Match *", "GET /noetag/f.txt HTTP/1.1\r\nHost: a\r\nIf-Match: *\r\nConnection: close\r\n\r\n"],
  // Ranges.
  ["a range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nConnection: close\r\n\r\n"],
  ["a suffix range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-5\r\nConnection: close\r\n\r\n"],
  ["an open range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=15-\r\nConnection: close\r\n\r\n"],
  ["a range past the end", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=10-99\r\nConnection: close\r\n\r\n"],
  ["a suffix longer than the file", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-99\r\nConnection: close\r\n\r\n"],
  ["an unsatisfiable range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=30-\r\nConnection: close\r\n\r\n"],
  ["a reversed range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=5-2\r\nConnection: close\r\n\r\n"],
  ["bytes=-0", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-0\r\nConnection: close\r\n\r\n"],
  ["a malformed range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=abc\r\nConnection: close\r\n\r\n"],
  ["another unit", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: items=1-2\r\nConnection: close\r\n\r\n"],
  ["upper-case unit", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: Bytes=1-2\r\nConnection: close\r\n\r\n"],
  ["spaces in a range", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes= 1 - 2 , 4-5\r\nConnection: close\r\n\r\n"],
  ["two ranges", "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,5-6\r\nConnection: close\r\n\r\n"],
  [
    "three ranges, one unsatisfiable",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0,-2,50-60\r\nConnection: close\r\n\r\n",
  ],
  [
    "ranges larger than the file",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-15,5-19\r\nConnection: close\r\n\r\n",
  ],
  [
    "two ranges, max_ranges 1",
    "GET /one/f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,5-6\r\nConnection: close\r\n\r\n",
  ],
  ["one range, max_ranges 1", "GET /one/f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"],
  ["max_ranges 0", "GET /norange/f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"],
  ["a range of an empty file", "GET /empty.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"],
  ["a range and HEAD", "HEAD /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nConnection: close\r\n\r\n"],
  [
    "If-Range with the ETag",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nIf-Range: ${ETAG}\r\nConnection: close\r\n\r\n`,
  ],
  [
    "If-Range with another ETag",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nIf-Range: "zz"\r\nConnection: close\r\n\r\n`,
  ],
  [
    "If-Range with the date",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nIf-Range: ${LAST_MODIFIED}\r\nConnection: close\r\n\r\n`,
  ],
  [
    "If-Range with another date",
    "GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nIf-Range: Sat, 03 Jan 2026 00:00:00 GMT\r\nConnection: close\r\n\r\n",
  ],
  [
    "a range and If-None-Match",
    `GET /f.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\nIf-None-Match: ${ETAG}\r\nConnection: close\r\n\r\n`,
  ],
  // alias, index, try_files.
  ["alias, the index", "GET /al/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["alias, a file", "GET /al/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["alias in a regex location", "GET /re/dir/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["alias in a regex location, a directory", "GET /re/dir HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["alias in a regex location, missing", "GET /re/nothing.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["index names, the last one", "GET /idx/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["index names with a variable", "GET /idx/?i=chosen.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an absolute index name", "GET /abs/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a file", "GET /tf/real.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a directory", "GET /tf/sub/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a directory without slash", "GET /tf/sub HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a named location", "GET /tf/gone.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a URI", "GET /tf2/none?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, =404", "GET /tf3/none HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a URI with arguments", "GET /tf4/x?y=2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  // Redirect settings.
  ["absolute_redirect off", "GET /rel/dir HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["port_in_redirect off", "GET /noport/dir HTTP/1.1\r\nHost: a:8\r\nConnection: close\r\n\r\n"],
  ["server_name_in_redirect on", "GET /byname/dir HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  // Climbing out of the root.
  ["..", "GET /../f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["%2e%2e", "GET /%2e%2e/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["%2e%2e%2f", "GET /%2e%2e%2ff.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["..%2f inside the root", "GET /dir/..%2ff.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["..%2f past the root", "GET /dir/..%2f..%2f..%2fetc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  [
    "%2e%2e%2f past an alias",
    "GET /al/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ],
  ["..%2f through a regex alias", "GET /re/..%2f..%2fetc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["..%5c", "GET /dir/..%5cf.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["%00", "GET /f.txt%00.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["%00 in a directory", "GET /dir%00/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a literal dot segment", "GET /dir/./../f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an absolute-form target", "GET http://a/../../etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  // Internal redirects: to a proxied named location, in a cycle, to a missing name; roots with variables.
  ["try_files to a proxied named location", "GET /app/none?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["try_files, a file before the proxy", "GET /app/here.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an internal redirection cycle", "GET /loop/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a named location that is not there", "GET /lost/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["root with a capture", "GET /cap/dir/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["root with $host", "GET /host/f.txt HTTP/1.1\r\nHost: vhost\r\nConnection: close\r\n\r\n"],
  ["a symbolic link in the root", "GET /link/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an index from a variable, absolute", "GET /varidx/?to=/f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["an index from a variable, relative", "GET /varidx/?to=f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  // Bodies are read and dropped, so the connection serves the next request.
  [
    "a POST with a body, then another request",
    "POST /f.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ],
  [
    "a GET with a chunked body, then another request",
    "GET /missing HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /f.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ],
  ["HTTP/1.0 keep-alive", "GET /f.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /dir HTTP/1.0\r\n\r\n"],
  // stub_status refuses other methods.
  ["POST to stub_status", "POST /status HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"],
];

/** Cases that need the servers to run unprivileged. */
const PERMISSION_CASES: ReadonlyArray<readonly [string, string]> = [
  ["a file without permission", "GET /secret.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  ["a directory without permission", "GET /locked/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
  [
    "a file in a directory without permission",
    "GET /locked/index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ],
];

describe("static files: wsgate answers as nginx", { skip }, () => {
  let docroot: string;
  let backend: RecordingBackend;
  const peers: Partial<Record<"nginx" | "wsgate", StaticPeer>> = {};
  before(async () => {
    docroot = openTempDir("docroot");
    for (const [name, text] of Object.entries(FILES)) {
      const path = join(docroot, name);
      mkdirSync(join(path, ".."), { recursive: true, mode: 0o755 });
      writeFileSync(path, text, { mode: 0o644 });
      utimesSync(path, MTIME, MTIME);
    }
    symlinkSync(join(docroot, "dir"), join(docroot, "linked"));
    chmodSync(join(docroot, "secret.txt"), 0o000);
    chmodSync(join(docroot, "locked"), 0o000);
    backend = await startRecordingBackend();
    peers.nginx = await startStaticPeer("nginx", conf(docroot, backend.port));
    peers.wsgate = await startStaticPeer("wsgate", conf(docroot, backend.port));
  });
  after(async () => {
    await peers.nginx?.stop();
    await peers.wsgate?.stop();
    await backend?.close();
    if (docroot) {
      chmodSync(join(docroot, "locked"), 0o755);
      rmSync(docroot, { recursive: true, force: true });
    }
  });

  const cases = [...CASES, ...PERMISSION_CASES.map(([name, request]) => [name, request, "permissions"] as const)];
  for (const [name, request, needs] of cases) {
    test(
      name,
      { skip: needs === "permissions" && !PERMISSIONS_APPLY ? "the servers run as root" : false },
      async () => {
        const nginxErrors = errorLines(peers.nginx!.errorLog()).length;
        const wsgateErrors = errorLines(peers.wsgate!.errorLog()).length;
        const expected = comparable(await rawExchange(peers.nginx!.port, request), peers.nginx!.port);
        const actual = comparable(await rawExchange(peers.wsgate!.port, request), peers.wsgate!.port);
        assert.equal(actual, expected);
        assert.notEqual(expected, "", "nginx answered");
        const expectedErrors = errorLines(peers.nginx!.errorLog()).slice(nginxErrors);
        const actualErrors = errorLines(peers.wsgate!.errorLog()).slice(wsgateErrors);
        assert.deepEqual(actualErrors, expectedErrors);
      },
    );
  }

  test("300 seeded random paths: the same replies", async () => {
    const pieces = [
      "f.txt",
      "dir",
      "noindex",
      "..",
      ".",
      "%2e",
      "%2e%2e",
      "%2f",
      "%20",
      "sp%20ace.txt",
      "index.html",
      "a.CSS",
      "%41",
      "x".repeat(300),
      "",
      "~",
      "%ff",
      "%C3%A9",
      "al",
      "re",
      "tf",
      "idx",
      "missing",
      "f.txt;x",
      "%3F",
      "%23",
    ];
    let seed = 20261125;
    const pick = <T>(list: readonly T[]): T => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return list[seed % list.length]!;
    };
    for (let i = 0; i < 300; i++) {
      const depth = 1 + (i % 4);
      let path = "";
      for (let j = 0; j < depth; j++) path += "/" + pick(pieces);
      if (i % 7 === 0) path += "/";
      if (i % 5 === 0) path += "?" + pick(["a=1", "", "i=f.txt", "to=/index.html"]);
      const method = pick(["GET", "GET", "GET", "HEAD", "POST"]);
      const request = `${method} ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
      const expected = comparable(await rawExchange(peers.nginx!.port, request), peers.nginx!.port);
      const actual = comparable(await rawExchange(peers.wsgate!.port, request), peers.wsgate!.port);
      assert.equal(actual, expected, request);
    }
  });

  test("stub_status: nginx's layout, figures that add up", async () => {
    const request = "GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const shape = (text: string): string => text.replace(/\d+/g, "N");
    const expected = comparable(await rawExchange(peers.nginx!.port, request), peers.nginx!.port);
    const actual = comparable(await rawExchange(peers.wsgate!.port, request), peers.wsgate!.port);
    assert.equal(shape(actual), shape(expected));
    const body = actual.slice(actual.indexOf("\r\n\r\n") + 4);
    const match =
      /^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$/.exec(
        body,
      );
    assert.ok(match, body);
    const [active, accepts, handled, requests, reading, writing, waiting] = match.slice(1).map(Number) as number[];
    assert.equal(accepts, handled);
    assert.ok(accepts! > CASES.length, "every case's connection was counted");
    assert.ok(requests! >= CASES.length);
    assert.equal(writing, 1, "the status request itself");
    assert.equal(active, reading! + writing! + waiting!);
  });

  test("the access log of the file variables is nginx's", async () => {
    const strip = (log: string): string[] => log.split("\n").filter((line) => line !== "" && !line.includes("/status"));
    // Both logs are written when each request ends: wait until both have every line (bounded; the comparison below
    // says what differs if they never do).
    const settled = (): boolean => {
      const lines = strip(peers.nginx!.readLog("files.log")).length;
      return lines > CASES.length && strip(peers.wsgate!.readLog("files.log")).length === lines;
    };
    await until(settled, 3000, "every access-log line").catch(() => undefined);
    const expected = strip(peers.nginx!.readLog("files.log"));
    const actual = strip(peers.wsgate!.readLog("files.log"));
    assert.ok(expected.length > CASES.length);
    assert.deepEqual(actual, expected);
  });
});
