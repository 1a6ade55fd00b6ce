/**
 * `set $args …`, against nginx: $args is one of the built-in variables nginx
 * lets `set` change (NGX_HTTP_VAR_CHANGEABLE). The request's arguments
 * change — $args, $query_string, $is_args, $arg_* read the new ones —
 * $request_uri does not, and proxy_pass without a URI sends the (escaped)
 * URI with the new arguments rather than the request line's target. A
 * `map`'s target is changeable too: `set` gives it the request's value
 * (which a volatile map does not keep).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startRecordingBackend, peersWith, type Peer, type RecordingBackend } from "./peers.js";
import { exchange } from "../support/sockets.js";

const skip = skipWithoutNginx();

const conf = (backend: number): string => `
  map $uri $mapped { default "from map"; }
  map $uri $volatile_mapped { volatile; default "from a volatile map"; }
  server {
    listen PORT;
    proxy_set_header X-Request-Uri $request_uri;
    proxy_set_header X-Args "$args|$query_string|$is_args|$arg_b";
    location /p/ { set $args "a=1&b=$arg_x"; proxy_pass http://127.0.0.1:${backend}; }
    location /u/ { set $args new=1; proxy_pass http://127.0.0.1:${backend}/base/; }
    location /e/ { set $args ""; proxy_pass http://127.0.0.1:${backend}; }
    location /r/ { set $args z=9; return 200 "$args $request_uri [$is_args] $arg_z $query_string\\n"; }
    location /m/ { set $mapped "from set $arg_x"; return 200 "$mapped\\n"; }
    location /mv/ { set $volatile_mapped "from set"; return 200 "$volatile_mapped\\n"; }
    location /mr/ { return 200 "$mapped\\n"; }
  }`;

const get = (target: string): string => `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`;

const REQUESTS: readonly string[] = [
  get("/p/x?x=2"),
  get("/p/a%20b?x=3&y"),
  get("/p/plain"),
  get("/u/tail?old=1"),
  get("/e/path?gone=1"),
  get("/r/x?q=1"),
  get("/m/a?x=1"),
  get("/mv/a"),
  get("/mr/a"),
];

describe("differential: set $args", { skip }, () => {
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

  /** The status line, the answer's body, and what the backend got: request line, X-Request-Uri, X-Args. */
  async function outcome(peer: Peer, request: string): Promise<string[]> {
    const heads = backend.heads.length;
    const reply = (await exchange(peer.port, request)).toString("latin1");
    const head = backend.heads.length > heads ? backend.heads[backend.heads.length - 1]! : "";
    return [
      reply.slice(0, reply.indexOf("\r\n")),
      reply.includes("X-Backend") ? "" : reply.slice(reply.indexOf("\r\n\r\n") + 4),
      head.slice(0, head.indexOf("\r\n")),
      /\r\nx-request-uri: ([^\r]*)/i.exec(head)?.[1] ?? "",
      /\r\nx-args: ([^\r]*)/i.exec(head)?.[1] ?? "",
    ];
  }

  test("what the backend gets and what $args, $request_uri read, as nginx's", async () => {
    for (const request of REQUESTS) {
      const nginx = await outcome(peers.nginx!, request);
      assert.deepEqual(await outcome(peers.wsgate!, request), nginx, JSON.stringify(request));
    }
    // The comparison means something: nginx did send the arguments `set` made.
    assert.match((await outcome(peers.nginx!, get("/p/x?x=5")))[2]!, /^GET \/p\/x\?a=1&b=5 HTTP\/1\.[01]$/);
  });
});
