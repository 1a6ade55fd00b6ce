/**
 * ngx_http_realip_module against nginx: X-Real-IP (with a port, IPv6, a
 * list, garbage), X-Forwarded-For (last address, several header lines,
 * real_ip_recursive), any other header, `x-forwarded-for` written in another
 * case (a header like any other: its first line only), an untrusted source,
 * `real_ip_header proxy_protocol` without a PROXY header; what $remote_addr,
 * $remote_port and $realip_remote_addr read in the access log, what the
 * backend gets in X-Real-IP and X-Forwarded-For ($proxy_add_x_forwarded_for),
 * allow/deny on the real address, and the two phases: a `return` in a
 * location's rewrite phase runs before the location's realip (preaccess),
 * while a server's set_real_ip_from works from the post-read phase. Then
 * configuration errors as nginx -t.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { peersWith, skipWithoutNginx, startRecordingBackend, type Peer, type RecordingBackend } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { until } from "../support/wait.js";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";

const skip = skipWithoutNginx();

function conf(backend: number): string {
  const pass = `proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_pass http://127.0.0.1:${backend};`;
  return `
  log_format ri '$remote_addr|$remote_port|$realip_remote_addr|$server_name|$request|$status';
  server {
    listen 127.0.0.1:PORT;
    server_name a.test;
    access_log logs/ri.log ri;
    location / { ${pass} }
    location /xrealip { set_real_ip_from 127.0.0.1; ${pass} }
    location /xff { set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; ${pass} }
    location /xffr {
      set_real_ip_from 127.0.0.0/8;
      set_real_ip_from 192.0.2.0/24;
      real_ip_header X-Forwarded-For;
      real_ip_recursive on;
      ${pass}
    }
    location /custom { set_real_ip_from 127.0.0.1; real_ip_header CF-Connecting-IP; ${pass} }
    location /lower { set_real_ip_from 127.0.0.1; real_ip_header x-forwarded-for; real_ip_recursive on; ${pass} }
    location /untrusted { set_real_ip_from 10.0.0.0/8; set_real_ip_from ::1; ${pass} }
    location /deny { set_real_ip_from 127.0.0.1; deny 203.0.113.9; ${pass} }
    location /pp { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; ${pass} }
    location /return { set_real_ip_from 127.0.0.1; return 200 "$remote_addr $realip_remote_addr\\n"; }
  }
  server {
    listen 127.0.0.1:PORT;
    server_name b.test;
    access_log logs/ri.log ri;
    set_real_ip_from 127.0.0.1;
    location / { real_ip_header X-Forwarded-For; ${pass} }
    location /return { return 200 "$remote_addr $realip_remote_addr\\n"; }
  }`;
}

const PATHS = ["/", "/xrealip", "/xff", "/xffr", "/custom", "/lower", "/untrusted", "/deny", "/pp", "/return"];

const HEADER_SETS: ReadonlyArray<readonly [string, string]> = [
  ["none", ""],
  ["X-Real-IP", "X-Real-IP: 203.0.113.9\r\n"],
  ["X-Real-IP with a port", "X-Real-IP: 203.0.113.9:4321\r\n"],
  ["X-Real-IP IPv6 with a port", "X-Real-IP: [2001:DB8:0:0::5]:80\r\n"],
  ["X-Real-IP IPv6", "X-Real-IP: 2001:db8:0:0:0:0:0:5\r\n"],
  ["X-Real-IP mapped", "X-Real-IP: ::ffff:203.0.113.9\r\n"],
  ["X-Real-IP garbage", "X-Real-IP: unknown\r\n"],
  ["X-Real-IP list", "X-Real-IP: 198.51.100.1, 203.0.113.9\r\n"],
  ["two X-Real-IP lines", "X-Real-IP: 198.51.100.1\r\nX-Real-IP: 203.0.113.9\r\n"],
  ["X-Forwarded-For", "X-Forwarded-For: 203.0.113.1, 192.0.2.7\r\n"],
  ["X-Forwarded-For trailing separators", "X-Forwarded-For: 203.0.113.1 ,192.0.2.7 , \r\n"],
  ["X-Forwarded-For lines", "X-Forwarded-For: 203.0.113.1\r\nX-Forwarded-For: 192.0.2.7, 192.0.2.8\r\n"],
  ["X-Forwarded-For all trusted", "X-Forwarded-For: 192.0.2.1, 192.0.2.7\r\n"],
  ["X-Forwarded-For garbage first", "X-Forwarded-For: unknown, 192.0.2.7\r\n"],
  ["both headers", "X-Real-IP: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.1, 192.0.2.7\r\n"],
  ["CF-Connecting-IP", "CF-Connecting-IP: 203.0.113.77\r\n"],
];

describe("differential: realip from request headers", { skip }, () => {
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

  async function ask(name: "nginx" | "wsgate", host: string, path: string, headers: string): Promise<string> {
    const peer = peers[name]!;
    const heads = backend.heads.length;
    const logged = peer.readLog("ri.log").length;
    const reply = await exchange(
      peer.port,
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}Connection: close\r\n\r\n`,
      hasWholeResponse,
    );
    await until(() => peer.readLog("ri.log").length > logged, 1000, "an access-log line").catch(() => undefined);
    const text = reply.toString("latin1");
    const body = /^HTTP\/1\.1 200/.test(text) ? text.slice(text.indexOf("\r\n\r\n") + 4).trim() : "";
    const forwarded = backend.heads
      .slice(heads)
      .join("")
      .split("\r\n")
      .filter((line) => /^x-(real-ip|forwarded-for):/i.test(line))
      .join(" / ");
    // The client's own port is ephemeral (five digits); a port realip took from a header is shorter here.
    const access = peer
      .readLog("ri.log")
      .slice(logged)
      .trim()
      .replace(/^([^|]*)\|\d{5}\|/, "$1|EPHEMERAL|");
    return `${host}${path}: ${text.split("\r\n")[0]} ${body} | ${forwarded || "-"} | ${access}`;
  }

  for (const [name, headers] of HEADER_SETS) {
    test(name, async () => {
      const requests: Array<[string, string]> = [
        ...PATHS.map((path): [string, string] => ["a.test", path]),
        ["b.test", "/"],
        ["b.test", "/return"],
      ];
      for (const [host, path] of requests) {
        const nginx = await ask("nginx", host, path, headers);
        const wsgate = await ask("wsgate", host, path, headers);
        assert.equal(wsgate, nginx);
      }
    });
  }

  test("the address is the request's: the next request on the connection has the connection's again", async () => {
    const results: string[] = [];
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = peers[name]!;
      const logged = peer.readLog("ri.log").length;
      const first = "GET /xrealip HTTP/1.1\r\nHost: a.test\r\nX-Real-IP: 203.0.113.9\r\n\r\n";
      const second = "GET /xrealip HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
      await exchange(peer.port, first + second);
      await until(() => peer.readLog("ri.log").slice(logged).trim().split("\n").length >= 2, 1000, "two lines").catch(
        () => undefined,
      );
      results.push(
        peer
          .readLog("ri.log")
          .slice(logged)
          .trim()
          .replace(/\|\d{5}\|/g, "|EPHEMERAL|"),
      );
    }
    assert.match(results[0]!, /^203\.0\.113\.9\|\|127\.0\.0\.1\|.*\n127\.0\.0\.1\|EPHEMERAL\|/);
    assert.equal(results[1], results[0]);
  });

  test("a refusal names the real address in the error log", () => {
    const forbidden = (peer: Peer): string[] =>
      peer
        .errorLog()
        .split("\n")
        .filter((line) => line.includes("access forbidden"))
        .map((line) => line.replace(/^.*?\[/, "[").replace(/\d+#\d+: \*\d+ /, ""));
    const nginx = forbidden(peers.nginx!);
    assert.ok(
      nginx.some((line) => line.includes("client: 203.0.113.9")),
      nginx.join("\n"),
    );
    assert.deepEqual(forbidden(peers.wsgate!), nginx);
  });
});

describe("realip: configuration as nginx -t", () => {
  for (const [lines, message] of [
    // Not an address: looked up as a host name, as nginx does.
    ["set_real_ip_from 300.0.0.1;", `host not found in set_real_ip_from "300.0.0.1"`],
    ["set_real_ip_from 10.0.0.0/33;", `host not found in set_real_ip_from "10.0.0.0/33"`],
    ["set_real_ip_from no-such-host.invalid;", `host not found in set_real_ip_from "no-such-host.invalid"`],
    ["set_real_ip_from localhost;", undefined],
    ["set_real_ip_from 1.2.3.4 5.6.7.8;", `invalid number of arguments in "set_real_ip_from" directive`],
    ["real_ip_header;", `invalid number of arguments in "real_ip_header" directive`],
    ["real_ip_recursive maybe;", `invalid value "maybe" in "real_ip_recursive" directive, it must be "on" or "off"`],
    ["real_ip_recursive on; real_ip_recursive off;", `"real_ip_recursive" directive is duplicate`],
    ["real_ip_header X-Real-IP; real_ip_header Foo;", `"real_ip_header" directive is duplicate`],
    [
      "set_real_ip_from unix:; real_ip_header Foo; real_ip_header proxy_protocol;",
      `"real_ip_header" directive is duplicate`,
    ],
    ["set_real_ip_from unix:; real_ip_header proxy_protocol;", undefined],
    ["set_real_ip_from 10.1.2.3/8; set_real_ip_from 2001:db8::/32;", undefined],
  ] as const) {
    test(lines, async () => {
      const prefix = makeTempDir();
      try {
        const text = `events {}\nhttp {\n server {\n  listen 127.0.0.1:1;\n  ${lines}\n }\n}\n`;
        writeTree(prefix, { "nginx.conf": text });
        const confFile = join(prefix, "nginx.conf");
        const nginx = nginxTest({ prefix, confFile });
        if (nginx) assert.equal(nginx.emerg?.replace(/ in \S+:\d+$/, ""), message, nginx.stderr);
        let error: string | undefined;
        try {
          await loadConfig({ prefix, confFile });
        } catch (err) {
          error = (err as Error).message.replace(/ in \S+:\d+$/, "");
        }
        assert.equal(error, message);
      } finally {
        removeTempDir(prefix);
      }
    });
  }

  test("listen … proxy_protocol=on is an invalid parameter, as in nginx", async () => {
    const prefix = makeTempDir();
    try {
      writeTree(prefix, { "nginx.conf": `events {}\nhttp { server { listen 127.0.0.1:1 proxy_protocol=on; } }\n` });
      const confFile = join(prefix, "nginx.conf");
      const message = `invalid parameter "proxy_protocol=on"`;
      const nginx = nginxTest({ prefix, confFile });
      if (nginx) assert.equal(nginx.emerg?.replace(/ in \S+:\d+$/, ""), message, nginx.stderr);
      await assert.rejects(loadConfig({ prefix, confFile }), (err: Error) => err.message.startsWith(message));
    } finally {
      removeTempDir(prefix);
    }
  });
});
