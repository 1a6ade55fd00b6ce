/**
 * The subrequest engine on its own (http/subrequest.ts), in process, through
 * an access check added for the test (the seam auth_request and a key-set
 * fetch use): the response body when asked for — a `return`'s, a static
 * file's, an upstream's chunked one with its framing removed, never
 * gzip-compressed although the client accepts it — the status and headers,
 * the request whose variables are read, an `internal` location allowed, the
 * client's body left for the main request, and no access-log line of its own.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import { openServing, type Serving } from "../../src/process/serving.js";
import { ACCESS_CHECKS, type PhaseCheck } from "../../src/http/phase-checks.js";
import type { SubrequestResult } from "../../src/http/subrequest.js";
import type { HttpRequest } from "../../src/http/request.js";
import { ComplexValue } from "../../src/vars/complex-value.js";
import { startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { freePort } from "../support/proxy.js";
import { exchange } from "../support/sockets.js";
import { makeTempDir, removeTempDir } from "../support/config-files.js";
import { withTimeout } from "../support/wait.js";

const KEYS = JSON.stringify({ keys: [{ kty: "oct", kid: "a", k: "c2VjcmV0".repeat(40) }] });

describe("subrequests: the engine", () => {
  let dir = "";
  let port = 0;
  let serving: Serving;
  let backend: RecordingBackend;
  /** The last probe's parent and result. */
  let seen: { parent: HttpRequest; result: SubrequestResult } | undefined;
  const probe: PhaseCheck = (r, context) => {
    const match = /^\/probe(-limit)?(\/.*)$/.exec(r.uri);
    if (!match) return { kind: "declined" };
    const options = match[1] ? { body: true, bodyLimit: 100 } : { body: true };
    return context.subrequest(r, match[2]!, "", options).then((result) => {
      seen = { parent: r, result };
      return { kind: "ok" };
    });
  };

  /** Read through a call: TypeScript would keep `seen` narrowed to its reset across the await. */
  const lastProbe = (): typeof seen => seen;

  before(async () => {
    dir = makeTempDir("subrequest");
    mkdirSync(join(dir, "logs"));
    mkdirSync(join(dir, "keys"));
    writeFileSync(join(dir, "keys", "set.json"), KEYS);
    backend = await startRecordingBackend({
      handler: () => {
        const half = KEYS.length >> 1;
        const chunks = [KEYS.slice(0, half), KEYS.slice(half)].map(
          (part) => `${part.length.toString(16)}\r\n${part}\r\n`,
        );
        return {
          raw:
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Key-Set: v7\r\nTransfer-Encoding: chunked\r\n\r\n" +
            chunks.join("") +
            "0\r\n\r\n",
        };
      },
    });
    port = await freePort();
    writeFileSync(
      join(dir, "nginx.conf"),
      `error_log logs/error.log info;
      events {}
      http {
        access_log logs/access.log;
        gzip on; gzip_types application/json; gzip_min_length 1;
        server {
          listen 127.0.0.1:${port};
          location / { return 200 "main\\n"; }
          location /probe/ { proxy_pass http://127.0.0.1:${backend.port}/main; }
          location /probe-limit/ { proxy_pass http://127.0.0.1:${backend.port}/main; }
          location = /returned { internal; default_type application/json; return 200 '${KEYS}'; }
          location /keys/ { internal; root ${dir}; }
          location = /upstream { proxy_pass http://127.0.0.1:${backend.port}/set; }
          location = /unused { add_header X-K "$upstream_http_x_key_set $upstream_status"; return 204; }
        }
      }`,
    );
    serving = openServing(await loadConfig({ prefix: dir + "/", confFile: join(dir, "nginx.conf") }));
    await serving.server!.listen();
    ACCESS_CHECKS.push(probe);
  });

  after(async () => {
    ACCESS_CHECKS.splice(ACCESS_CHECKS.indexOf(probe), 1);
    await serving?.server?.stopListening();
    serving?.server?.destroyConnections();
    serving?.server?.closeUpstreams();
    serving?.files.closeAll();
    await backend?.close();
    removeTempDir(dir);
  });

  async function get(path: string, extra = ""): Promise<SubrequestResult> {
    seen = undefined;
    const request = `GET ${path} HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n${extra}Connection: close\r\n\r\n`;
    await withTimeout(exchange(port, request), 5000, path);
    const found = lastProbe();
    assert.ok(found, `the probe ran for ${path}`);
    return found.result;
  }

  test("a `return` in an internal location: its body, status and type", async () => {
    const result = await get("/probe/returned");
    assert.equal(result.status, 200);
    assert.equal(result.body?.toString(), KEYS);
    assert.ok(result.headers.some(([name, value]) => name === "Content-Type" && value === "application/json"));
    assert.ok(!result.headers.some(([name]) => name.toLowerCase() === "content-encoding"));
    assert.equal(result.request.parent, lastProbe()!.parent);
    assert.equal(result.request.uri, "/returned");
    assert.equal(result.request.method, "GET");
  });

  test("a static file", async () => {
    const result = await get("/probe/keys/set.json");
    assert.equal(result.status, 200);
    assert.equal(result.body?.toString(), KEYS);
    const missing = await get("/probe/keys/none.json");
    assert.equal(missing.status, 404);
  });

  test("an upstream's chunked body, its framing removed; its headers read as the subrequest's variables", async () => {
    const before = backend.requests.length;
    const result = await get("/probe/upstream");
    assert.equal(result.status, 200);
    assert.equal(result.body?.toString(), KEYS);
    // The names the configuration uses (so that the proxy keeps the upstream's headers), read in the subrequest.
    const value = ComplexValue.compile("$upstream_http_x_key_set $upstream_status", serving.server!.http.variables);
    assert.equal(value.evaluate(result.request), "v7 200");
    // The subrequest asked for /set; then the main request went on to its own upstream (/probe/ → /main).
    const asked = backend.requests.slice(before).map((request) => `${request.method} ${request.target}`);
    assert.deepEqual(asked, ["GET /set", "GET /mainupstream"]);
  });

  test("a body past the limit: what came before it, and `tooBig`", async () => {
    const returned = await get("/probe-limit/returned");
    assert.equal(returned.tooBig, true);
    assert.equal(returned.body?.toString(), KEYS.slice(0, 100));
    const proxied = await get("/probe-limit/upstream");
    assert.equal(proxied.tooBig, true);
    assert.ok(KEYS.startsWith(proxied.body!.toString()) && proxied.body!.length <= 100);
    const whole = await get("/probe/returned");
    assert.equal(whole.tooBig, undefined);
  });

  test("the client's body is left for the main request; the subrequest writes no access-log line", async () => {
    const before = backend.requests.length;
    seen = undefined;
    const request =
      "POST /probe/returned HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";
    const reply = await withTimeout(exchange(port, request), 5000, "the POST");
    assert.match(reply.toString("latin1"), /^HTTP\/1.1 200 /);
    const main = backend.requests.slice(before);
    assert.equal(main.length, 1);
    assert.equal(main[0]!.method, "POST");
    assert.equal(main[0]!.body.toString(), "hello world");
    serving.accessLog.flush();
    const lines = readFileSync(join(dir, "logs", "access.log"), "latin1")
      .split("\n")
      .filter(Boolean);
    assert.ok(
      lines.every((line) => line.includes('"GET /probe') || line.includes('"POST /probe/')),
      lines.join("\n"),
    );
  });
});
