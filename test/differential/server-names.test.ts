/**
 * server_name as nginx reads it, against nginx: named captures in PCRE's three
 * spellings and numbered captures become variables of the server (answers
 * and access-log lines), `\p{N}` classes, `(?i)` at the start of a regex
 * (server_name, map, location), `$server_name` as the first name written
 * (".name" without its dot, a regex with its "~"), and `server_name ""`
 * catching requests without a Host header ahead of the default server;
 * `server_name $hostname` as the machine's name.
 */

import { hostname } from "node:os";
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, peersWith, type Peer } from "./peers.js";
import { exchange } from "../support/sockets.js";

const skip = skipWithoutNginx();

const BODY = `"sub=$sub py=$pysub q=$qsub one=$1 sn=$server_name host=$host m=$m\\n"`;

const conf = `
  log_format caps '$host $server_name [$sub] [$pysub] [$qsub] $status';
  access_log logs/caps.log caps;
  map $uri $m { "~(?i)^/ABC" upper; default none; }
  server {
    listen PORT default_server;
    server_name default.test;
    location / { return 200 ${BODY}; }
  }
  server {
    listen PORT;
    server_name "~^(?<sub>[a-z]+)\\.named\\.test$" "~^(?P<pysub>[a-z]+)\\.py\\.test$" "~^(?'qsub'[a-z]+)\\.q\\.test$";
    location / { return 200 ${BODY}; }
    location ~ (?i)^/loc/(.*) { return 200 "loc $1 sn=$server_name\\n"; }
  }
  server {
    listen PORT;
    server_name "~^(\\p{N}+)\\.num\\.test$";
    location / { return 200 ${BODY}; }
  }
  server {
    listen PORT;
    server_name "~(?i)^mixed\\.test$" other.test;
    location / { return 200 ${BODY}; }
  }
  server {
    listen PORT;
    server_name .dot.test;
    location / { return 200 ${BODY}; }
  }
  server {
    listen PORT;
    server_name *.wild.test;
    location / { return 200 ${BODY}; }
  }
  server {
    listen PORT;
    server_name $hostname;
    location / { return 200 "hostname sn=$server_name\\n"; }
  }
  server {
    listen PORT;
    server_name "";
    location / { return 200 "no host sn=[$server_name]\\n"; }
  }`;

const REQUESTS: readonly string[] = [
  "GET / HTTP/1.1\r\nHost: abc.named.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: xyz.py.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: qq.q.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: 123.num.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: x1.num.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: MIXED.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: dot.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a.b.dot.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: x.wild.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.0\r\n\r\n",
  `GET / HTTP/1.1\r\nHost: ${hostname().toLowerCase()}\r\nConnection: close\r\n\r\n`,
  "GET /abc/x HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n",
  "GET /Abc HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n",
  "GET /LOC/tail HTTP/1.1\r\nHost: abc.named.test\r\nConnection: close\r\n\r\n",
];

describe("differential: server_name regexes, captures and $server_name", { skip }, () => {
  const peers = peersWith(async () => conf);

  async function answer(peer: Peer, request: string): Promise<string> {
    const reply = (await exchange(peer.port, request)).toString("latin1");
    return reply.slice(0, reply.indexOf("\r\n")) + " | " + reply.slice(reply.indexOf("\r\n\r\n") + 4);
  }

  test("answers: captures, classes, (?i) and $server_name as nginx", async () => {
    for (const request of REQUESTS) {
      assert.equal(await answer(peers.wsgate!, request), await answer(peers.nginx!, request), JSON.stringify(request));
    }
  });

  test("the captures in access-log lines", async () => {
    const lines = (peer: Peer): string[] => peer.readLog("caps.log").split("\n").filter(Boolean);
    assert.ok(lines(peers.nginx!).length >= REQUESTS.length);
    assert.deepEqual(lines(peers.wsgate!), lines(peers.nginx!));
  });
});
