/**
 * Access-log formats under nginx and wsgate: the predefined `combined`,
 * `escape=default` and `escape=json` with hostile header values, `access_log off`.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { comparableLog, skipWithoutNginx, startPeer, startRecordingBackend, type RecordingBackend } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";

const skip = skipWithoutNginx();

const FORMATS = (backend: number, logs: string): string => `
  log_format esc '"$http_user_agent" "$http_x_test" $remote_user $status $request_length';
  log_format js escape=json '{"ua":"$http_user_agent","x":"$http_x_test","missing":"$http_x_none","u":"$remote_user"}';
  log_format raw escape=none '$http_user_agent|$http_x_test';
  log_format sent '$status $sent_http_connection $sent_http_upgrade $upstream_http_sec_websocket_accept $upstream_status';
  server {
    listen PORT;
    access_log ${logs}/combined.log combined;
    access_log ${logs}/esc.log esc;
    access_log ${logs}/js.log js;
    access_log ${logs}/raw.log raw;
    access_log ${logs}/sent.log sent;
    location / {
      proxy_pass http://127.0.0.1:${backend};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $http_connection;
    }
    location /quiet { access_log off; proxy_pass http://127.0.0.1:${backend}; }
  }`;

const REQUESTS = [
  'GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla "quoted" \\back\r\nX-Test: caf\xe9 \x01\x7f tab\there\r\nConnection: close\r\n\r\n',
  "GET /?a=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n",
  "GET /quiet HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello=world",
  "GET / HTTP/1.0\r\n\r\n",
  // A tunnel: its log line is written when it closes, from headers kept that long.
  "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nUser-Agent: tunnel-ua\r\nX-Test: kept\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
];

describe("differential: access-log formats", { skip }, () => {
  let backend: RecordingBackend;
  before(async () => {
    backend = await startRecordingBackend();
  });
  after(async () => backend?.close());

  test("combined, escape=default, escape=json, escape=none and access_log off write the same lines", async () => {
    const seen: Record<string, Record<string, string[]>> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      // Relative log paths resolve against the prefix, for nginx and wsgate alike.
      const again = await startPeer(name, FORMATS(backend.port, "logs"));
      try {
        for (const request of REQUESTS) await exchange(again.port, request);
        const read = (file: string) => (): string => again.readLog(file);
        await linesEventually(read("combined.log"), 5);
        seen[name] = Object.fromEntries(
          ["combined.log", "esc.log", "js.log", "raw.log", "sent.log"].map((file) => [
            file,
            comparableLog(read(file)()),
          ]),
        );
      } finally {
        await again.stop();
      }
    }
    assert.equal(seen.nginx!["combined.log"]!.length, 5, "access_log off kept one request out");
    assert.match(seen.nginx!["sent.log"]!.at(-1)!, /^101 upgrade websocket \S+= 101$/);
    assert.match(seen.nginx!["raw.log"]!.at(-1)!, /^tunnel-ua\|kept$/);
    assert.deepEqual(seen.wsgate, seen.nginx);
  });
});
