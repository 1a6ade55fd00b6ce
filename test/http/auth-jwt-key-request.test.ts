/**
 * auth_jwt_key_request: the key set fetched by a subrequest — from an
 * `internal` location proxying to an identity provider's jwks_uri, or served
 * from a file — and auth_jwt_key_cache keeping it: without a cache every
 * check fetches it (as nginx, which recommends proxy_cache there), with one
 * the provider is asked once per period. A provider that fails or answers
 * something that is not a key set is a 500 with the reason in the error log;
 * the backend is never contacted then.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { freePort, httpConf, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { bearerStatus, epoch, keySet, makeKey, sign, type TestKey } from "../support/jwt.js";

describe("auth_jwt_key_request and auth_jwt_key_cache", () => {
  let backend: RecordingBackend;
  let provider: Server;
  let providerHits = 0;
  /** What the identity provider answers: its status and body. */
  let providerAnswer: { status: number; body: string } = { status: 200, body: "" };
  let wsgate: WsgateProcess;
  let port: number;
  let key: TestKey;
  let other: TestKey;

  before(async () => {
    key = await makeKey("ES256", "current");
    other = await makeKey("RS256", "filed");
    providerAnswer = { status: 200, body: keySet(key) };
    provider = createServer((_req, res) => {
      providerHits++;
      res.writeHead(providerAnswer.status, { "content-type": "application/json" });
      res.end(providerAnswer.body);
    });
    await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
    const address = provider.address();
    assert.ok(address && typeof address === "object");
    backend = await startRecordingBackend();
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(`
        upstream backend { server 127.0.0.1:${backend.port}; }
        server {
          listen 127.0.0.1:${port};
          auth_jwt "chat";
          location /fresh/ { auth_jwt_key_request /jwks; proxy_pass http://backend; }
          location /cached/ { auth_jwt_key_request /jwks?from=cache; auth_jwt_key_cache 1h; proxy_pass http://backend; }
          location /both/ { auth_jwt_key_request /jwks; auth_jwt_key_file filed.json; proxy_pass http://backend; }
          location /static/ { auth_jwt_key_request /keys/set.json; proxy_pass http://backend; }
          location = /jwks { internal; proxy_pass http://127.0.0.1:${address.port}/certs; }
          location /keys/ { internal; root html; }
        }`),
      files: { "filed.json": keySet(other), "html/keys/set.json": keySet(key) },
    });
  });

  after(async () => {
    await wsgate?.stop();
    await backend?.close();
    await new Promise((resolve) => provider?.close(resolve));
  });

  test("the key set comes from the provider through an internal location, each time without a cache", async () => {
    const token = await sign(key, { sub: "ana", exp: epoch(300) });
    const hits = providerHits;
    assert.equal(await bearerStatus(port, "/fresh/1", token), 200);
    assert.equal(await bearerStatus(port, "/fresh/2", token), 200);
    assert.equal(providerHits - hits, 2);
    const forged = await sign(other, { sub: "ana", exp: epoch(300) }, { kid: "current", alg: "RS256" });
    assert.equal(await bearerStatus(port, "/fresh/3", forged), 401);
  });

  test("auth_jwt_key_cache asks the provider once for the period", async () => {
    const token = await sign(key, { sub: "bo", exp: epoch(300) });
    const hits = providerHits;
    for (let i = 0; i < 4; i++) assert.equal(await bearerStatus(port, `/cached/${i}`, token), 200);
    assert.equal(providerHits - hits, 1);
  });

  test("key requests and key files add up; a key set can be a static file", async () => {
    assert.equal(await bearerStatus(port, "/both/a", await sign(key, { sub: "x" })), 200);
    assert.equal(await bearerStatus(port, "/both/b", await sign(other, { sub: "y" })), 200);
    assert.equal(await bearerStatus(port, "/static/a", await sign(key, { sub: "z" })), 200);
    assert.equal(await bearerStatus(port, "/static/b", await sign(other, { sub: "z" })), 401);
  });

  test("a provider that fails or answers no key set is a 500, the backend never contacted", async () => {
    const token = await sign(key, { sub: "cy", exp: epoch(300) });
    const before = backend.requests.length;
    providerAnswer = { status: 503, body: "down" };
    assert.equal(await bearerStatus(port, "/fresh/down", token), 500);
    await waitFor(() => wsgate.errorLog().includes('JWT key request "/jwks" answered 503'), 3000);
    providerAnswer = { status: 200, body: "<html>" };
    assert.equal(await bearerStatus(port, "/fresh/html", token), 500);
    await waitFor(() => wsgate.errorLog().includes('invalid JSON Web Key Set from "/jwks"'), 3000);
    assert.equal(backend.requests.length, before);
    providerAnswer = { status: 200, body: keySet(key) };
    assert.equal(await bearerStatus(port, "/fresh/back", token), 200);
  });
});
