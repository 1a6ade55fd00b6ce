/**
 * Variables nginx always defines that wsgate has no source for: without a
 * cache `$upstream_cache_status` is not found, and `$ssl_early_data` (no
 * 0-RTT) likewise; both print "-" in an access log, as nginx's do, with the
 * cache directives of a configuration without a cache in place.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { comparableLog, skipWithoutNginx, startPeer, startRecordingBackend, type RecordingBackend } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";

const skip = skipWithoutNginx();

const HTTP = (backend: number): string => `
  log_format cache '$status "$upstream_cache_status" "$ssl_early_data" $upstream_status';
  log_format cachejs escape=json '{"c":"$upstream_cache_status","e":"$ssl_early_data"}';
  proxy_cache off;
  server {
    listen PORT;
    access_log logs/cache.log cache;
    access_log logs/cachejs.log cachejs;
    location / {
      proxy_cache_bypass $http_pragma $arg_nocache;
      proxy_no_cache $http_pragma;
      proxy_pass http://127.0.0.1:${backend};
    }
    location /local { return 204; }
  }`;

const REQUESTS = [
  "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  "GET /?nocache=1 HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nConnection: close\r\n\r\n",
  "GET /local HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
];

describe("differential: $upstream_cache_status and $ssl_early_data without a cache", { skip }, () => {
  let backend: RecordingBackend;
  before(async () => {
    backend = await startRecordingBackend();
  });
  after(async () => backend?.close());

  test("the same access-log lines as nginx", async () => {
    const seen: Record<string, string[][]> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(name, HTTP(backend.port));
      try {
        for (const request of REQUESTS) await exchange(peer.port, request);
        await linesEventually(() => peer.readLog("cache.log"), REQUESTS.length);
        await linesEventually(() => peer.readLog("cachejs.log"), REQUESTS.length);
        seen[name] = [comparableLog(peer.readLog("cache.log")), comparableLog(peer.readLog("cachejs.log"))];
      } finally {
        await peer.stop();
      }
    }
    assert.deepEqual(seen.nginx![0], ['200 "-" "-" 200', '200 "-" "-" 200', '204 "-" "-" -']);
    assert.deepEqual(seen.wsgate, seen.nginx);
  });
});
