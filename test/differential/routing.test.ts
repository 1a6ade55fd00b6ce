/**
 * Server and location selection against nginx: several servers on two
 * listening sockets, every kind of server_name and location, and a table of
 * requests whose route (which server, which location, the URI sent on) must
 * be nginx's. Each location tags the request with X-Route, so the head the
 * backend receives shows where it went.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startPeer, startRecordingBackend, type Peer, type RecordingBackend } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { freePort } from "../support/proxy.js";

const skip = skipWithoutNginx();

function conf(backend: number, second: number): string {
  const to = (route: string, uri = ""): string =>
    `proxy_pass http://127.0.0.1:${backend}${uri}; proxy_set_header X-Route "${route}";`;
  return `
  map $arg_user $who { ~^(?<first>\\w+)-(\\w+)$ "$first+$2"; default none; }
  server {
    listen PORT;
    listen 127.0.0.1:${second};
    server_name exact.test www.exact.test;
    location / { ${to("exact /")} }
    location = /same { ${to("exact =/same")} }
    location /same { ${to("exact /same")} }
    location ^~ /static/ { ${to("exact ^~/static/")} }
    location ~ \\.(png|gif)$ { ${to("exact ~png")} }
    location ~* \\.JPG$ { ${to("exact ~*jpg")} }
    location /api/ { ${to("exact /api/", "/v1/")}
      location /api/deep/ { ${to("exact /api/deep/")} }
      location ~ /api/.*\\.php$ { ${to("exact nested ~php")} }
    }
    location /img/ { ${to("exact /img/")} }
    location ~ ^/img/(?<name>\\w+)\\.webp$ { ${to("exact webp $name")} }
  }
  server {
    listen PORT;
    server_name *.wild.test;
    location / { ${to("leading wildcard $host")} }
  }
  server {
    listen PORT;
    server_name mail.*;
    location / { ${to("trailing wildcard $host")} }
  }
  server {
    listen PORT;
    server_name .dot.test;
    location / { ${to("dot $host")} }
  }
  server {
    listen PORT;
    server_name ~^(?<user>[a-z]+)\\.users\\.test$ ~^num(\\d+)\\.test$;
    location / { ${to("regex $user|$1")} }
  }
  server {
    listen PORT default_server;
    server_name _;
    location / { ${to("default $host $who")} }
  }
  server {
    listen 127.0.0.1:${second} default_server;
    server_name second.test;
    location / { ${to("second $host")} }
  }`;
}

/** [Host header or "-" for none, request target, which port: "first" | "second"] */
const CASES: ReadonlyArray<readonly [string, string, ("second" | "first")?]> = [
  ["exact.test", "/"],
  ["EXACT.test", "/x"],
  ["exact.test.", "/x"],
  ["www.exact.test:8080", "/x"],
  ["exact.test", "/same"],
  ["exact.test", "/same/more"],
  ["exact.test", "/samex"],
  ["exact.test", "/static/a.png"],
  ["exact.test", "/other/a.png"],
  ["exact.test", "/other/a.PNG"],
  ["exact.test", "/other/a.jpg"],
  ["exact.test", "/api/users?id=1"],
  ["exact.test", "/api/deep/x"],
  ["exact.test", "/api/x.php"],
  ["exact.test", "/api/deep/x.php"],
  ["exact.test", "/img/cat.webp"],
  ["exact.test", "/img/cat.png"],
  ["exact.test", "/img/c-t.webp"],
  ["exact.test", "/%61pi/encoded"],
  ["exact.test", "/a/../api/dots"],
  ["exact.test", "//api//slashes"],
  ["exact.test", "/api/%2e%2e/same"],
  ["a.wild.test", "/"],
  ["a.b.wild.test", "/"],
  ["wild.test", "/"],
  ["mail.example.org", "/"],
  ["mail.x", "/"],
  ["dot.test", "/"],
  ["sub.dot.test", "/"],
  ["alice.users.test", "/"],
  ["num42.test", "/"],
  ["ALICE.users.test", "/"],
  ["unknown.test", "/"],
  ["unknown.test", "/?user=ann-lee"],
  ["-", "/"],
  ["exact.test", "http://a.wild.test/absolute"],
  ["second.test", "/", "second"],
  ["exact.test", "/", "second"],
  ["unknown.test", "/", "second"],
];

describe("differential: server and location selection", { skip }, () => {
  let backend: RecordingBackend;
  const peers: Partial<Record<"nginx" | "wsgate", { peer: Peer; second: number }>> = {};
  before(async () => {
    backend = await startRecordingBackend();
    for (const name of ["nginx", "wsgate"] as const) {
      const second = await freePort();
      peers[name] = { peer: await startPeer(name, conf(backend.port, second)), second };
    }
  });
  after(async () => {
    await peers.nginx?.peer.stop();
    await peers.wsgate?.peer.stop();
    await backend?.close();
  });

  async function route(name: "nginx" | "wsgate", host: string, target: string, which: string): Promise<string> {
    const { peer, second } = peers[name]!;
    const hostLine = host === "-" ? "" : `Host: ${host}\r\n`;
    const version = host === "-" ? "1.0" : "1.1";
    const from = backend.heads.length;
    const port = which === "second" ? second : peer.port;
    const reply = await exchange(
      port,
      `GET ${target} HTTP/${version}\r\n${hostLine}Connection: close\r\n\r\n`,
      hasWholeResponse,
    );
    const head = backend.heads[from];
    if (!head) return `no request upstream: ${reply.toString("latin1").split("\r\n")[0]}`;
    const route = /\r\nX-Route: ([^\r]*)/.exec(head)?.[1] ?? "(no X-Route)";
    return `${head.split("\r\n")[0]} → ${route}`;
  }

  for (const [host, target, which] of CASES) {
    test(`Host ${host}, ${target}${which === "second" ? " on the second socket" : ""}`, async () => {
      const nginx = await route("nginx", host, target, which ?? "first");
      const wsgate = await route("wsgate", host, target, which ?? "first");
      assert.equal(wsgate, nginx);
    });
  }
});
