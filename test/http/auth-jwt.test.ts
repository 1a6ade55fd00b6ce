/**
 * auth_jwt over real sockets: keys of every algorithm family made with jose
 * and written as a JSON Web Key Set, tokens from the Authorization header,
 * from $arg_token and from a cookie; valid, expired, not yet valid (with and
 * without auth_jwt_leeway), forged (another key, an altered payload,
 * `alg: none`), missing, an unknown kid; auth_jwt_require with 401 and 403;
 * the claim and header variables in the access log and in headers sent
 * upstream. A refused request never reaches the backend.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { request } from "node:http";
import { join } from "node:path";
import { header, startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { freePorts, httpConf, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { withTimeout } from "../support/wait.js";
import { epoch, keySet, makeKey, sign, unsecured, withPayload, type TestKey } from "../support/jwt.js";

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const reply = new Promise<Reply>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
  return withTimeout(reply, 5000, `GET ${path}`);
}

const ALGORITHMS = [
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

function conf(port: number, unchecked: number, backend: number): string {
  const proxied = `proxy_pass http://backend;
        proxy_set_header X-User $jwt_claim_sub;
        proxy_set_header X-Email $jwt_email;
        proxy_set_header X-Roles $jwt_roles;
        proxy_set_header X-Kid $jwt_kid;
        proxy_set_header X-Payload $jwt_payload;`;
  return httpConf(`
    upstream backend { server 127.0.0.1:${backend}; }
    auth_jwt_claim_set $jwt_email info email;
    auth_jwt_claim_set $jwt_roles roles;
    auth_jwt_header_set $jwt_kid kid;
    map $jwt_claim_scope $is_admin { admin 1; default 0; }
    log_format jwt '$request_uri|$status|$jwt_claim_sub|$jwt_header_alg|$jwt_email|$jwt_roles';
    server {
      listen 127.0.0.1:${port};
      access_log logs/jwt.log jwt;
      auth_jwt_key_file keys.json;
      auth_jwt "site";
      location /header/ { ${proxied} }
      location /arg/ { auth_jwt "chat" token=$arg_token; ${proxied} }
      location /cookie/ { auth_jwt "chat" token=$cookie_auth; ${proxied} }
      location /leeway/ { auth_jwt_leeway 120s; ${proxied} }
      location /admin/ { auth_jwt_require $is_admin; ${proxied} }
      location /staff/ { auth_jwt_require $jwt_claim_sub; auth_jwt_require $is_admin error=403; ${proxied} }
      location /open/ { auth_jwt off; ${proxied} }
      location /either/ { satisfy any; allow 127.0.0.1; deny all; ${proxied} }
      location /neither/ { satisfy any; deny all; ${proxied} }
      location /rotating/ { auth_jwt_key_file sets/$arg_set.json; ${proxied} }
    }
    server {
      listen 127.0.0.1:${unchecked};
      location / { auth_jwt "unchecked"; ${proxied} }
    }`);
}

describe("auth_jwt", () => {
  let backend: RecordingBackend;
  let wsgate: WsgateProcess;
  let port: number;
  /** The server whose auth_jwt has no key file. */
  let unchecked: number;
  const keys = new Map<string, TestKey>();
  let stranger: TestKey;
  let hs: TestKey;

  before(async () => {
    for (const alg of ALGORITHMS) keys.set(alg, await makeKey(alg, `k-${alg}`));
    hs = keys.get("HS256")!;
    stranger = await makeKey("HS256", hs.kid);
    backend = await startRecordingBackend();
    [port, unchecked] = (await freePorts(2)) as [number, number];
    wsgate = await startWsgate({
      conf: conf(port, unchecked, backend.port),
      files: { "keys.json": keySet(...keys.values()), "sets/current.json": keySet(keys.get("ES256")!) },
    });
  });

  after(async () => {
    await wsgate?.stop();
    await backend?.close();
  });

  /** GET `path` and check it is refused with `status` before reaching the backend. */
  async function refused(path: string, status: number, headers: Record<string, string> = {}): Promise<Reply> {
    const before = backend.requests.length;
    const reply = await get(port, path, headers);
    assert.equal(reply.status, status, `${path}: ${reply.body}`);
    assert.equal(backend.requests.length, before, `${path} reached the backend`);
    return reply;
  }

  async function errorLogHas(text: string): Promise<void> {
    await waitFor(() => wsgate.errorLog().includes(text), 3000, `error log line "${text}"`);
  }

  test("a token of every algorithm in the Authorization header passes; the backend sees its claims", async () => {
    for (const [alg, key] of keys) {
      const token = await sign(key, { sub: `user-${alg}`, exp: epoch(300) });
      const reply = await get(port, `/header/${alg}`, { Authorization: `Bearer ${token}` });
      assert.equal(reply.status, 200, `${alg}: ${reply.body}`);
      const seen = backend.requests[backend.requests.length - 1]!;
      assert.equal(header(seen, "x-user"), `user-${alg}`, alg);
      assert.equal(header(seen, "x-kid"), key.kid, alg);
    }
  });

  test("the scheme is case-insensitive; a token without kid is matched by its algorithm", async () => {
    const token = await sign(keys.get("ES384")!, { sub: "no-kid" }, { kid: undefined });
    const reply = await get(port, "/header/nokid", { Authorization: `bearer ${token}` });
    assert.equal(reply.status, 200);
    assert.equal(header(backend.requests[backend.requests.length - 1]!, "x-user"), "no-kid");
  });

  test("no token: 401 with the realm, logged at info", async () => {
    const reply = await refused("/header/none", 401);
    assert.equal(reply.headers["www-authenticate"], 'Bearer realm="site"');
    await refused("/header/basic", 401, { Authorization: "Basic dXNlcjpwYXNz" });
    await errorLogHas("[info]");
    await errorLogHas("no JWT was provided");
  });

  test("forged tokens are refused with error=invalid_token", async () => {
    const good = await sign(hs, { sub: "alice", exp: epoch(300) });
    const cases: Array<[string, string, string]> = [
      ["another key with the same kid", await sign(stranger, { sub: "alice" }), "JWT signature verification failed"],
      ["an altered payload", withPayload(good, { sub: "admin", exp: epoch(300) }), "JWT signature verification failed"],
      ["alg none", unsecured({ sub: "alice" }, hs.kid), 'JWT algorithm "none" is not supported'],
      ["an unknown kid", await sign(hs, { sub: "alice" }, { kid: "nobody" }), 'no JWT key with kid "nobody"'],
      ["not a JWT", "abc.def", "JWT is malformed"],
      ["an HS token naming an RSA key", await sign(hs, { sub: "a" }, { kid: keys.get("RS256")!.kid }), "no JWT key"],
    ];
    for (const [what, token, logged] of cases) {
      const reply = await refused(`/header/forged`, 401, { Authorization: `Bearer ${token}` });
      assert.equal(reply.headers["www-authenticate"], 'Bearer realm="site", error="invalid_token"', what);
      await errorLogHas(logged);
    }
  });

  test("exp and nbf are checked, with auth_jwt_leeway", async () => {
    const expired = await sign(hs, { sub: "late", exp: epoch(-30) });
    const early = await sign(hs, { sub: "early", nbf: epoch(30) });
    await refused("/header/expired", 401, { Authorization: `Bearer ${expired}` });
    await errorLogHas("JWT has expired");
    await refused("/header/early", 401, { Authorization: `Bearer ${early}` });
    await errorLogHas("JWT is not yet valid");
    assert.equal((await get(port, "/leeway/expired", { Authorization: `Bearer ${expired}` })).status, 200);
    assert.equal((await get(port, "/leeway/early", { Authorization: `Bearer ${early}` })).status, 200);
    const long = await sign(hs, { sub: "late", exp: epoch(-300) });
    await refused("/leeway/long", 401, { Authorization: `Bearer ${long}` });
  });

  test("token=$arg_token and token=$cookie_auth", async () => {
    const token = await sign(keys.get("RS256")!, { sub: "carol" });
    assert.equal((await get(port, `/arg/x?token=${token}`)).status, 200);
    assert.equal(header(backend.requests[backend.requests.length - 1]!, "x-user"), "carol");
    const reply = await refused("/arg/x", 401, { Authorization: `Bearer ${token}` });
    assert.equal(reply.headers["www-authenticate"], 'Bearer realm="chat"');
    assert.equal((await get(port, "/cookie/x", { Cookie: `a=b; auth=${token}` })).status, 200);
    await refused("/cookie/x", 401, { Cookie: "auth=" });
  });

  test("auth_jwt_require: 401 by default, the error code given", async () => {
    const user = await sign(hs, { sub: "dave", scope: "user" });
    const admin = await sign(hs, { sub: "erin", scope: "admin" });
    const anonymous = await sign(hs, { scope: "admin" });
    const reply = await refused("/admin/", 401, { Authorization: `Bearer ${user}` });
    assert.equal(reply.headers["www-authenticate"], 'Bearer realm="site", error="invalid_token"');
    await errorLogHas('JWT does not meet the requirement "$is_admin"');
    assert.equal((await get(port, "/admin/", { Authorization: `Bearer ${admin}` })).status, 200);
    const forbidden = await refused("/staff/", 403, { Authorization: `Bearer ${user}` });
    assert.equal(forbidden.headers["www-authenticate"], undefined);
    await refused("/staff/", 401, { Authorization: `Bearer ${anonymous}` });
    assert.equal((await get(port, "/staff/", { Authorization: `Bearer ${admin}` })).status, 200);
  });

  test("claims and header fields as variables: upstream headers and the access log", async () => {
    const claims = { sub: "frank", info: { email: "frank@example.com" }, roles: ["chat", "admin"], exp: epoch(300) };
    const token = await sign(keys.get("ES256")!, claims);
    assert.equal((await get(port, "/header/vars", { Authorization: `Bearer ${token}` })).status, 200);
    const seen = backend.requests[backend.requests.length - 1]!;
    assert.equal(header(seen, "x-email"), "frank@example.com");
    assert.equal(header(seen, "x-roles"), "chat,admin");
    assert.deepEqual(JSON.parse(header(seen, "x-payload")!), claims);
    await waitFor(() => wsgate.accessLog("jwt.log").includes("/header/vars|"), 3000, "the access log line");
    const line = wsgate
      .accessLog("jwt.log")
      .split("\n")
      .find((entry) => entry.startsWith("/header/vars|"));
    assert.equal(line, "/header/vars|200|frank|ES256|frank@example.com|chat,admin");
    await refused("/header/novars", 401);
    await waitFor(() => wsgate.accessLog("jwt.log").includes("/header/novars|"), 3000, "the refused line");
    assert.match(wsgate.accessLog("jwt.log"), /^\/header\/novars\|401\|-\|-\|-\|-$/m);
  });

  test("satisfy any: allow/deny or the token", async () => {
    assert.equal((await get(port, "/either/")).status, 200);
    const reply = await refused("/neither/", 401);
    assert.equal(reply.headers["www-authenticate"], 'Bearer realm="site"');
    const token = await sign(hs, { sub: "ivy" });
    assert.equal((await get(port, "/neither/", { Authorization: `Bearer ${token}` })).status, 200);
  });

  test("auth_jwt off cancels the inherited check", async () => {
    assert.equal((await get(port, "/open/")).status, 200);
  });

  test("a key file with variables is read per request; one that cannot be read is 500", async () => {
    const token = await sign(keys.get("ES256")!, { sub: "gina" });
    const reply = await get(port, "/rotating/?set=current", { Authorization: `Bearer ${token}` });
    assert.equal(reply.status, 200);
    await refused("/rotating/?set=missing", 500, { Authorization: `Bearer ${token}` });
    await errorLogHas(`open() "${join(wsgate.prefix, "sets/missing.json")}" failed (2: No such file or directory)`);
  });

  test("without auth_jwt_key_file the signature is not checked, as documented; the times are", async () => {
    const forged = withPayload(await sign(hs, { sub: "x" }), { sub: "henry" });
    const reply = await get(unchecked, "/", { Authorization: `Bearer ${forged}` });
    assert.equal(reply.status, 200);
    assert.equal(header(backend.requests[backend.requests.length - 1]!, "x-user"), "henry");
    const expired = withPayload(forged, { sub: "henry", exp: epoch(-60) });
    const before = backend.requests.length;
    assert.equal((await get(unchecked, "/", { Authorization: `Bearer ${expired}` })).status, 401);
    assert.equal(backend.requests.length, before);
  });
});
