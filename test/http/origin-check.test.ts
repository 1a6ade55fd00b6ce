/**
 * wsgate_origin (src/config/modules/wsgate-origin.ts, src/http/origin-check.ts):
 * a WebSocket handshake from an origin off the list gets 403 and the upstream
 * never hears of it; listed origins, wildcards and regexes pass, as do
 * handshakes without Origin and requests that are not handshakes — over
 * HTTP/1.1 and over HTTP/2 (RFC 8441). The directive's errors name file and line.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { request as httpRequest } from "node:http";
import { WebSocket, WebSocketServer } from "ws";
import { freePort, httpConf, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { eventWithin } from "../support/wait.js";
import { destroySessions, h2Session, h2WebSocket } from "../support/h2-client.js";
import { runCli } from "../cli/run-cli.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { originAllowed } from "../../src/http/origin-check.js";
import { originRule } from "../../src/config/modules/wsgate-origin.js";
import type { DirectiveNode } from "../../src/config/parser.js";

const NODE = { name: "wsgate_origin", args: [], file: "nginx.conf", line: 1 } as unknown as DirectiveNode;

describe("wsgate_origin's rules", () => {
  const allowed = (entries: string[], origin: string): boolean =>
    originAllowed(
      entries.map((entry) => originRule(NODE, entry)),
      origin,
    );

  test("an exact origin matches scheme, host and port, in any case", () => {
    assert.equal(allowed(["https://chat.example.com"], "https://chat.example.com"), true);
    assert.equal(allowed(["https://chat.example.com"], "HTTPS://Chat.Example.com"), true);
    assert.equal(allowed(["https://chat.example.com"], "http://chat.example.com"), false);
    assert.equal(allowed(["https://chat.example.com"], "https://chat.example.com:8443"), false);
    assert.equal(allowed(["https://chat.example.com"], "https://chat.example.com.evil.net"), false);
    assert.equal(allowed(["http://localhost:8080"], "http://localhost:8080"), true);
  });

  test("a wildcard takes any subdomain but not the domain itself; without a scheme, any scheme", () => {
    assert.equal(allowed(["https://*.example.com"], "https://a.example.com"), true);
    assert.equal(allowed(["https://*.example.com"], "https://a.b.example.com"), true);
    assert.equal(allowed(["https://*.example.com"], "https://example.com"), false);
    assert.equal(allowed(["https://*.example.com"], "http://a.example.com"), false);
    assert.equal(allowed(["https://*.example.com"], "https://aexample.com"), false);
    assert.equal(allowed(["*.example.com"], "http://a.example.com:8080"), true);
    assert.equal(allowed(["chat.example.com"], "wss://chat.example.com"), true);
    assert.equal(allowed(["chat.example.com:8080"], "http://chat.example.com"), false);
  });

  test("a regex reads the whole Origin; `null` is an origin of its own", () => {
    assert.equal(allowed(["~^https://[a-z]+\\.example\\.org$"], "https://app.example.org"), true);
    assert.equal(allowed(["~^https://[a-z]+\\.example\\.org$"], "https://APP.example.org"), false);
    assert.equal(allowed(["~*^https://[a-z]+\\.example\\.org$"], "https://APP.example.org"), true);
    assert.equal(allowed(["null"], "null"), true);
    assert.equal(allowed(["https://a.example"], "null"), false);
  });
});

describe("wsgate_origin at the handshake", () => {
  let backend: WebSocketServer;
  let upgrades = 0;
  let wsgate: WsgateProcess;
  let port: number;

  before(async () => {
    backend = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await eventWithin(backend, "listening", 2000);
    backend.on("connection", (socket) => {
      upgrades++;
      socket.on("message", (data) => socket.send(`echo: ${String(data)}`));
    });
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    port = await freePort();
    const conf = httpConf(
      `log_format origin '$status $http_origin';
       server {
         listen 127.0.0.1:${port};
         access_log logs/origin.log origin;
         wsgate_http2_websocket on;
         http2 on;
         wsgate_origin https://chat.example.com *.example.org ~^http://localhost:[0-9]+$;
         location / {
           proxy_pass http://127.0.0.1:${address.port};
           proxy_http_version 1.1;
           proxy_set_header Upgrade $http_upgrade;
           proxy_set_header Connection upgrade;
         }
         location /open/ {
           wsgate_origin off;
           proxy_pass http://127.0.0.1:${address.port};
           proxy_http_version 1.1;
           proxy_set_header Upgrade $http_upgrade;
           proxy_set_header Connection upgrade;
         }
         location /page { return 200 "page\\n"; }
       }`,
    );
    wsgate = await startWsgate({ conf });
  });

  after(async () => {
    destroySessions();
    await wsgate?.stop();
    await new Promise((resolve) => backend?.close(resolve));
  });

  async function handshake(path: string, origin?: string): Promise<number> {
    const client = new WebSocket(`ws://127.0.0.1:${port}${path}`, origin !== undefined ? { origin } : {});
    client.on("error", () => undefined);
    const outcome = await Promise.race([
      eventWithin(client, "open", 5000).then(() => 101),
      eventWithin<[unknown, { statusCode: number }]>(client, "unexpected-response", 5000).then(
        ([, res]) => res.statusCode,
      ),
    ]);
    if (outcome === 101) {
      const reply = eventWithin<[Buffer]>(client, "message", 5000);
      client.send("hi");
      assert.equal(String((await reply)[0]), "echo: hi");
    }
    client.terminate();
    return outcome;
  }

  test("listed origins, wildcards and regexes open the tunnel", async () => {
    assert.equal(await handshake("/", "https://chat.example.com"), 101);
    assert.equal(await handshake("/", "https://a.example.org"), 101);
    assert.equal(await handshake("/", "http://localhost:3000"), 101);
  });

  test("a foreign origin gets 403, logged with the origin, and the upstream never sees it", async () => {
    const before = upgrades;
    assert.equal(await handshake("/", "https://evil.example.net"), 403);
    assert.equal(await handshake("/", "https://example.org"), 403);
    assert.equal(upgrades, before);
    await waitFor(() => wsgate.errorLog().includes('WebSocket origin "https://example.org" is not allowed'), 3000);
    const line = wsgate
      .errorLog()
      .split("\n")
      .find((l) => l.includes('"https://evil.example.net" is not allowed'));
    assert.ok(line, "the refusal is in the error log");
    assert.match(line, /\[error\].*by wsgate_origin, client: 127\.0\.0\.1, server: , request: "GET \/ HTTP\/1\.1"/);
    await waitFor(() => wsgate.accessLog("origin.log").includes("403 https://evil.example.net"), 3000);
  });

  test("a handshake without Origin (not from a browser) passes, and `off` lifts the check", async () => {
    assert.equal(await handshake("/"), 101);
    assert.equal(await handshake("/open/", "https://evil.example.net"), 101);
  });

  test("a request that is not a handshake is not checked", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, path: "/page", headers: { origin: "https://evil.example.net" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 200);
  });

  test("over HTTP/2 the extended CONNECT is checked the same way", async () => {
    const session = await h2Session(`http://127.0.0.1:${port}`);
    const before = upgrades;
    const refused = await h2WebSocket(session, "/", { origin: "https://evil.example.net" });
    assert.equal(refused.status, 403);
    assert.equal(upgrades, before);
    const allowed = await h2WebSocket(session, "/", { origin: "https://chat.example.com" });
    assert.equal(allowed.status, 200);
    allowed.stream.close();
    refused.stream.close();
  });
});

describe("wsgate_origin's configuration errors", () => {
  let root: string;
  before(() => (root = makeTempDir("wsgate-origin")));
  after(() => removeTempDir(root));

  async function check(inside: string): Promise<{ code: number | null; stderr: string; file: string }> {
    const prefix = join(root, `case${Math.random().toString(36).slice(2)}`);
    const file = join(prefix, "nginx.conf");
    writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n${inside}\n}\n` });
    const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
    return { code: run.code, stderr: run.stderr, file };
  }

  test("bad origins, a bad regex, off twice and a wrong context name file and line", async () => {
    const cases: Array<[string, string]> = [
      ["wsgate_origin https://a.example/path;", `invalid origin "https://a.example/path" in FILE:3`],
      ["wsgate_origin https://*;", `invalid origin "https://*" in FILE:3`],
      ["wsgate_origin ~(;", `pcre2_compile() failed: missing closing parenthesis in "(" in FILE:3`],
      ["wsgate_origin off;\nwsgate_origin off;", `"wsgate_origin" directive is duplicate in FILE:4`],
      ["wsgate_origin;", `invalid number of arguments in "wsgate_origin" directive in FILE:3`],
      ["server { if ($host) { wsgate_origin a.example; } }", `"wsgate_origin" directive is not allowed here in FILE:3`],
    ];
    for (const [inside, expected] of cases) {
      const run = await check(inside);
      assert.equal(run.code, 1, inside);
      assert.ok(run.stderr.includes(expected.replace("FILE", run.file)), `${inside}\n${run.stderr}`);
    }
    const good = await check(
      "wsgate_origin https://a.example *.b.example null ~*^http://x$;\nserver { wsgate_origin off; }",
    );
    assert.equal(good.code, 0, good.stderr);
  });
});
