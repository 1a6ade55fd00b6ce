/**
 * ngx_http_limit_conn_module against nginx: a WebSocket tunnel holds its
 * slot until it closes (a second request from the address gets 503, a third
 * after the close passes), limit_conn_status and limit_conn_log_level (the
 * "limiting connections by zone" line at that level), limit_conn_dry_run
 * (logged ", dry run," and let through), an empty key not counted, two
 * limits in a location (refused by the second, no slot of the first kept),
 * $limit_conn_status in the access log, and the -t errors of the directives.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { connect, createServer, type Server, type Socket } from "node:net";
import { comparableHead, settledLog, skipWithoutNginx, startPeer, type Peer } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { waitFor } from "../support/proxy.js";
import { loadConfig } from "../../src/config/load.js";
import { hasNginx, makeTempDir, NGINX_BINARY, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { runCli } from "../cli/run-cli.js";
import { spawnSync } from "node:child_process";

const skip = skipWithoutNginx();

/** A backend that answers a WebSocket handshake with 101 and keeps the tunnel open, anything else with 200. */
async function holdingBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      if (head.includes("\r\n\r\n")) return;
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(head)?.[1];
      if (key) {
        const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        return;
      }
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** A tunnel through `port` to `path`, open once the 101 has come. */
function openTunnel(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no 101 for ${path}: ${reply}`));
    }, 5000);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      if (!reply.includes("\r\n\r\n")) return;
      clearTimeout(timer);
      if (reply.startsWith("HTTP/1.1 101")) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`no 101 for ${path}: ${reply}`));
      }
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: limits\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
}

/** A plain GET: its status line, headers and body, comparable across the two. */
async function get(peer: Peer, path: string): Promise<string> {
  const reply = await exchange(
    peer.port,
    `GET ${path} HTTP/1.1\r\nHost: limits\r\nConnection: close\r\n\r\n`,
    hasWholeResponse,
  );
  const text = reply.toString("latin1");
  const body = text.slice(text.indexOf("\r\n\r\n") + 4).replace(/nginx\/[\d.]+|wsgate\/[\d.]+/g, "SERVER");
  return [...comparableHead(reply), "", body].join("\n");
}

function conf(backend: number): string {
  const upgrade = `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`;
  const pass = `proxy_pass http://127.0.0.1:${backend}; ${upgrade}`;
  return `
  log_format lc '$request_uri $status $limit_conn_status';
  limit_conn_zone $binary_remote_addr zone=perip:1m;
  limit_conn_zone $binary_remote_addr zone=dry:1m;
  limit_conn_zone $binary_remote_addr zone=st:1m;
  limit_conn_zone $http_x_key zone=keyed:1m;
  limit_conn_zone $binary_remote_addr zone=pa:1m;
  limit_conn_zone $binary_remote_addr zone=pb:1m;
  server {
    listen PORT;
    access_log logs/lc.log lc;
    limit_conn perip 1;
    location /ws { ${pass} }
    location /dry { limit_conn dry 1; limit_conn_dry_run on; ${pass} }
    location /st { limit_conn st 1; limit_conn_status 429; limit_conn_log_level info; ${pass} }
    location /keyed { limit_conn keyed 1; ${pass} }
    location /pair { limit_conn pa 2; limit_conn pb 1; ${pass} }
    location /pa { limit_conn pa 2; ${pass} }
  }`;
}

describe("differential: limit_conn", { skip }, () => {
  let backend: Awaited<ReturnType<typeof holdingBackend>>;
  const peers: Peer[] = [];
  const outcomes = new Map<string, string[]>();

  before(async () => {
    backend = await holdingBackend();
    for (const name of ["nginx", "wsgate"] as const) peers.push(await startPeer(name, conf(backend.port)));
    for (const peer of peers) outcomes.set(peer.name, await scenario(peer));
  });
  after(async () => {
    for (const peer of peers) await peer.stop();
    await backend?.close();
  });

  /** The same steps against one peer: what each answered. */
  async function scenario(peer: Peer): Promise<string[]> {
    const seen: string[] = [];
    const logLines = (): number => peer.readLog("lc.log").split("\n").filter(Boolean).length;
    // A plain request holds its slot only while it lasts.
    seen.push(await get(peer, "/ws"), await get(peer, "/ws"));
    for (const path of ["/ws", "/dry", "/st", "/keyed"]) {
      const tunnel = await openTunnel(peer.port, path);
      seen.push(await get(peer, path));
      const before = logLines();
      tunnel.destroy();
      // The tunnel's slot goes back when its request ends, with its log line.
      await waitFor(() => logLines() > before, 5000, `the log line of the ${path} tunnel`);
      seen.push(await get(peer, path));
    }
    // Refused by its second limit (the line names "pb"), a request keeps no slot of its first: /pa has room.
    const tunnel = await openTunnel(peer.port, "/pair");
    seen.push(await get(peer, "/pair"), await get(peer, "/pa"));
    tunnel.destroy();
    return seen;
  }

  test("statuses and responses: the tunnel holds its slot until it closes", () => {
    const [nginx, wsgate] = [outcomes.get("nginx")!, outcomes.get("wsgate")!];
    assert.match(nginx[2]!, /^HTTP\/1\.1 503/);
    assert.match(nginx.at(-2)!, /^HTTP\/1\.1 503/, "/pair refused by its second limit");
    assert.match(nginx.at(-1)!, /^HTTP\/1\.1 200/, "/pa has room: the refused request's slot did not stay");
    assert.deepEqual(wsgate, nginx);
  });

  test("$limit_conn_status in the access log", async () => {
    const [nginx, wsgate] = (await Promise.all(peers.map((peer) => settledLog(peer, "lc.log")))).map((lines) =>
      lines.sort(),
    );
    assert.ok(
      nginx!.some((line) => line.endsWith(" REJECTED_DRY_RUN")),
      nginx!.join("\n"),
    );
    assert.deepEqual(wsgate, nginx);
  });

  test("the error-log lines and their levels", () => {
    const lines = (peer: Peer): string[] =>
      peer
        .errorLog()
        .split("\n")
        .filter((line) => line.includes("limiting connections"))
        .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: \*\d+ /, "$1 "));
    const [nginx, wsgate] = peers.map(lines);
    assert.equal(nginx!.length, 4, nginx!.join("\n"));
    assert.deepEqual(wsgate, nginx);
  });
});

describe("limit_conn and limit_req: configuration errors as nginx -t", () => {
  const zone = "limit_conn_zone $binary_remote_addr zone=one:1m;";
  const reqZone = "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;";
  for (const [rule, message] of [
    ["limit_conn_zone $binary_remote_addr zone=one:1k;", `zone "zone=one:1k" is too small`],
    ["limit_conn_zone $binary_remote_addr zone=one;", `invalid zone size "zone=one"`],
    ["limit_conn_zone $binary_remote_addr zone=one:1x;", `invalid zone size "zone=one:1x"`],
    ["limit_conn_zone $binary_remote_addr size=1m;", `invalid parameter "size=1m"`],
    ["limit_conn_zone $binary_remote_addr zone=:1m;", `"limit_conn_zone" must have "zone" parameter`],
    [
      `${zone} limit_conn_zone $remote_addr zone=one:1m;`,
      `limit_conn_zone "one" is already bound to key "$binary_remote_addr"`,
    ],
    [
      `${zone} limit_conn_zone $binary_remote_addr zone=one:2m;`,
      `the size 2097152 of shared memory zone "one" conflicts with already declared size 1048576`,
    ],
    [`${zone} limit_req zone=one;`, `the shared memory zone "one" is already declared for a different use`],
    [`${zone} limit_conn one 0;`, `invalid number of connections "0"`],
    [`${zone} limit_conn one 70000;`, "connection limit must be less 65536"],
    [`${zone} limit_conn one 1; limit_conn one 2;`, `"limit_conn" directive is duplicate`],
    ["limit_conn_status 600;", "value must be between 400 and 599"],
    ["limit_conn_status x;", `"limit_conn_status" directive invalid number`],
    ["limit_conn_status 503; limit_conn_status 503;", `"limit_conn_status" directive is duplicate`],
    ["limit_conn_log_level debug;", `invalid value "debug"`],
    ["limit_conn_dry_run maybe;", `invalid value "maybe" in "limit_conn_dry_run" directive, it must be "on" or "off"`],
    ["server { limit_conn_zone $binary_remote_addr zone=one:1m; }", `"limit_conn_zone" directive is not allowed here`],
    ["limit_req_zone $binary_remote_addr zone=one:1m rate=0r/s;", `invalid rate "rate=0r/s"`],
    ["limit_req_zone $binary_remote_addr zone=one:1m rate=5r/h;", `invalid rate "rate=5r/h"`],
    ["limit_req_zone $binary_remote_addr rate=5r/s;", `invalid number of arguments in "limit_req_zone" directive`],
    ["limit_req_zone $binary_remote_addr rate=5r/s burst=5;", `invalid parameter "burst=5"`],
    ["limit_req_zone $binary_remote_addr rate=5r/s rate=1r/s;", `"limit_req_zone" must have "zone" parameter`],
    [`${reqZone} limit_req zone=one burst=0;`, `invalid burst value "burst=0"`],
    [`${reqZone} limit_req zone=one delay=x;`, `invalid delay value "delay=x"`],
    [`${reqZone} limit_req zone=one fast;`, `invalid parameter "fast"`],
    [`${reqZone} limit_req burst=5;`, `"limit_req" must have "zone" parameter`],
    [`${reqZone} limit_req zone=one; limit_req zone=one burst=2;`, `"limit_req" directive is duplicate`],
    ["limit_req_status 399;", "value must be between 400 and 599"],
    ["limit_req_log_level crit;", `invalid value "crit"`],
    [
      "upstream u { server 127.0.0.1:1; zone z 64k; } limit_conn_zone $binary_remote_addr zone=z:1m;",
      `the shared memory zone "z" is already declared for a different use`,
    ],
  ] as const) {
    test(rule, async () => {
      await expectRefusal(rule, `${message} in FILE:3`);
    });
  }

  for (const rule of [
    "limit_conn one 1;",
    "limit_req zone=one;",
    "server { location / { limit_req zone=one; } }",
    "upstream u { server 127.0.0.1:1; zone one; }",
  ]) {
    test(`${rule} without its zone: "zero size shared memory zone", without a place`, async () => {
      await expectRefusal(rule, `zero size shared memory zone "one"`);
    });
  }

  test("-t says the syntax is ok before the zero size zone, as nginx finds it after reading", async () => {
    const prefix = makeTempDir();
    try {
      writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n  limit_conn one 1;\n}\n` });
      const file = join(prefix, "nginx.conf");
      const wsgate = await runCli(["-t", "-p", `${prefix}/`, "-c", file]);
      assert.equal(wsgate.code, 1);
      const lines = (text: string): string[] =>
        text
          .trim()
          .split("\n")
          .map((line) => line.replace(/^\w+: /, ""));
      const expected = [
        `the configuration file ${file} syntax is ok`,
        `[emerg] zero size shared memory zone "one"`,
        `configuration file ${file} test failed`,
      ];
      assert.deepEqual(lines(wsgate.stderr), expected);
      if (hasNginx()) {
        const nginx = spawnSync(NGINX_BINARY, ["-t", "-p", `${prefix}/`, "-c", file, "-e", join(prefix, "error.log")], {
          encoding: "latin1",
        });
        assert.deepEqual(lines(nginx.stderr), expected);
      }
    } finally {
      removeTempDir(prefix);
    }
  });

  test("a zone may be used before it is defined", async () => {
    const prefix = makeTempDir();
    try {
      const text = `limit_conn one 1; limit_req zone=two burst=3; ${zone} limit_req_zone $binary_remote_addr zone=two:1m rate=30r/m;`;
      writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n  ${text}\n}\n` });
      const file = join(prefix, "nginx.conf");
      const config = await loadConfig({ prefix, confFile: file });
      assert.equal(config.http!.loc.limitConns[0]!.zone.size, 1048576);
      assert.equal(config.http!.loc.limitReqs[0]!.zone.rate, 500);
      assert.equal(config.http!.loc.limitReqs[0]!.burst, 3000);
      const nginx = nginxTest({ prefix, confFile: file });
      if (nginx) assert.equal(nginx.status, 0, nginx.stderr);
    } finally {
      removeTempDir(prefix);
    }
  });
});

/** wsgate's loader and `nginx -t` refuse `rule` (in the http block, line 3) with `message` (FILE: the file). */
async function expectRefusal(rule: string, message: string): Promise<void> {
  const prefix = makeTempDir();
  try {
    writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n  ${rule}\n}\n` });
    const file = join(prefix, "nginx.conf");
    const want = message.replace("FILE", file);
    await assert.rejects(loadConfig({ prefix, confFile: file }), (err: Error) => {
      assert.equal(err.message, want);
      return true;
    });
    const nginx = nginxTest({ prefix, confFile: file });
    if (nginx) assert.equal(nginx.emerg, want, nginx.stderr);
  } finally {
    removeTempDir(prefix);
  }
}
