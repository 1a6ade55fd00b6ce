/**
 * The directives of ngx_http_auth_jwt_module at load time: their contexts
 * and arguments as nginx.org documents them, key files read and checked at
 * load (a bad one is an error naming the file and the line), inheritance
 * (`off` cancels; a level's key files and requirements replace the
 * inherited ones), and what wsgate refuses: JWE (`auth_jwt_type encrypted`).
 * Open-source nginx has no such module, so there is no nginx -t to compare.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError } from "../../src/core/errors.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config, LocationConf, ServerConf } from "../../src/config/model.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { keySet, makeKey } from "../support/jwt.js";

let root: string;
let counter = 0;
let goodKeys: string;

before(async () => {
  root = makeTempDir("auth-jwt-config");
  goodKeys = keySet(await makeKey("HS256", "a"), await makeKey("RS256", "b"), await makeKey("EdDSA", "c"));
});

after(() => removeTempDir(root));

/** `http` is the inside of the http block, starting on line 3 of conf/nginx.conf. */
async function load(
  http: string,
  files: Readonly<Record<string, string>> = {},
): Promise<{ config: Config; prefix: string }> {
  const prefix = join(root, `case${++counter}`);
  writeTree(prefix, { "conf/nginx.conf": `events {}\nhttp {\n${http}\n}\n`, "logs/.keep": "", ...files });
  return { config: await loadConfig({ prefix, confFile: join(prefix, "conf/nginx.conf") }), prefix };
}

/** Expect a ConfigError with `message` (a function of the prefix for texts naming a path) at conf/nginx.conf:line. */
async function refused(
  http: string,
  message: string | ((prefix: string) => string),
  line: number,
  files: Readonly<Record<string, string>> = {},
): Promise<ConfigError> {
  const prefix = join(root, `case${counter + 1}`);
  const err = await load(http, files).then(
    () => assert.fail("the configuration was accepted"),
    (caught: unknown) => caught,
  );
  assert.ok(err instanceof ConfigError, String(err));
  const text = typeof message === "string" ? message : message(prefix);
  assert.equal(err.message, `${text} in ${join(prefix, "conf/nginx.conf")}:${line}`);
  return err;
}

function locationOf(server: ServerConf, path: string): LocationConf {
  const found = server.locations.find((location) => location.path === path);
  assert.ok(found, `location ${path}`);
  return found;
}

describe("auth_jwt directives", () => {
  test("contexts and arguments as documented", async () => {
    await refused(`server { auth_jwt_claim_set $a sub; }`, `"auth_jwt_claim_set" directive is not allowed here`, 3);
    await refused(`auth_jwt_header_set $a;`, `invalid number of arguments in "auth_jwt_header_set" directive`, 3);
    await refused(
      `server { location / { limit_except GET { auth_jwt_leeway 5s; } } }`,
      `"auth_jwt_leeway" directive is not allowed here`,
      3,
    );
    await refused(`auth_jwt a b c;`, `invalid number of arguments in "auth_jwt" directive`, 3);
    await refused(`auth_jwt_require;`, `invalid number of arguments in "auth_jwt_require" directive`, 3);
    // Fill limit_except with every directive it allows.
    const { config } = await load(
      `server { location / { limit_except GET { auth_jwt "x" token=$arg_t; auth_jwt_key_file k.json; ` +
        `auth_jwt_type signed; auth_jwt_require $arg_ok; } } }`,
      { "conf/k.json": goodKeys },
    );
    const limited = locationOf(config.http!.servers[0]!, "/").limitExcept!.location.loc;
    assert.equal(limited.authJwt?.off, false);
    assert.equal(limited.authJwtKeySources?.length, 1);
  });

  test("values refused with nginx's words", async () => {
    await refused(`auth_jwt "x";\nauth_jwt off;`, `"auth_jwt" directive is duplicate`, 4);
    await refused(`auth_jwt "x" header=$a;`, `invalid parameter "header=$a"`, 3);
    await refused(`auth_jwt "x" token=arg;`, `invalid variable name "arg"`, 3);
    await refused(`auth_jwt_require $a error=500;`, `invalid parameter "error=500"`, 3);
    await refused(`auth_jwt_require 1;`, `invalid parameter "1"`, 3);
    await refused(`auth_jwt_leeway 1x;`, `"auth_jwt_leeway" directive invalid value`, 3);
    await refused(`auth_jwt_leeway 500ms;`, `"auth_jwt_leeway" directive invalid value`, 3);
    await refused(`auth_jwt_leeway 1s;\nauth_jwt_leeway 2s;`, `"auth_jwt_leeway" directive is duplicate`, 4);
    await refused(`auth_jwt_type jws;`, `invalid value "jws" in "auth_jwt_type" directive`, 3);
    await refused(`auth_jwt_claim_set sub sub;`, `invalid variable name "sub"`, 3);
    await refused(`auth_jwt_claim_set $host sub;`, `the duplicate "host" variable`, 3);
    await refused(`auth_jwt_claim_set $u sub;\nauth_jwt_header_set $U kid;`, `the duplicate "u" variable`, 4);
  });

  test("encrypted and nested tokens: wsgate supports signed tokens only", async () => {
    for (const type of ["encrypted", "nested"]) {
      const err = await refused(
        `server {\n  auth_jwt_type ${type};\n}`,
        `"auth_jwt_type" directive "${type}" is not supported: wsgate supports signed tokens (JWS) only`,
        4,
      );
      assert.equal(err.kind, "unsupported");
    }
  });

  test("auth_jwt_key_request and auth_jwt_key_cache: contexts and values", async () => {
    await refused(
      `server { if ($host) { auth_jwt_key_request /jwks; } }`,
      `"auth_jwt_key_request" directive is not allowed here`,
      3,
    );
    await refused(
      `server { location / { limit_except GET { auth_jwt_key_cache 1h; } } }`,
      `"auth_jwt_key_cache" directive is not allowed here`,
      3,
    );
    await refused(`auth_jwt_key_cache 1h;\nauth_jwt_key_cache 2h;`, `"auth_jwt_key_cache" directive is duplicate`, 4);
    await refused(`auth_jwt_key_cache 500ms;`, `"auth_jwt_key_cache" directive invalid value`, 3);
    await refused(`auth_jwt_key_request;`, `invalid number of arguments in "auth_jwt_key_request" directive`, 3);
  });

  test("a key file is read at load: a bad one names the file and the line", async () => {
    const path = (prefix: string): string => join(prefix, "conf/keys.json");
    await refused(
      `server {\n  auth_jwt_key_file keys.json;\n}`,
      (prefix) => `open() "${path(prefix)}" failed (2: No such file or directory)`,
      4,
    );
    const bad: Array<[string, string]> = [
      ["{", "not JSON"],
      [`{"keys": {}}`, `no "keys" array`],
      [`{"keys": [{"kty": "oct", "k": "a+b"}]}`, `key 1: "k" is not base64url`],
      [`{"keys": [{"kty": "oct", "k": "YQ"}, {"kty": "XYZ"}]}`, `key 2: unsupported "kty" "XYZ"`],
      [`{"keys": [{"kty": "RSA", "n": "AQAB"}]}`, "key 1: "],
      [`{"keys": [{"kty": "oct", "k": "YQ", "kid": 7}]}`, `key 1: "kid" is not a string`],
    ];
    for (const [text, reason] of bad) {
      const err = await load(`\nauth_jwt_key_file keys.json;`, { "conf/keys.json": text }).then(
        () => assert.fail(`accepted ${text}`),
        (caught: unknown) => caught as ConfigError,
      );
      assert.ok(err instanceof ConfigError, String(err));
      const prefix = join(root, `case${counter}`);
      assert.ok(
        err.message.startsWith(`invalid JSON Web Key Set "${path(prefix)}": ${reason}`),
        `${text}: ${err.message}`,
      );
      assert.ok(err.message.endsWith(` in ${join(prefix, "conf/nginx.conf")}:4`), err.message);
    }
  });

  test("inheritance: off cancels, a level's key files and requirements replace the inherited ones", async () => {
    const { config } = await load(
      `auth_jwt "site";
      auth_jwt_key_file a.json;
      auth_jwt_leeway 30s;
      server {
        auth_jwt_require $arg_a;
        location /own { auth_jwt_key_file b.json; auth_jwt_key_file c.json; auth_jwt_require $arg_b error=403; }
        location /off { auth_jwt off; }
        location /plain { }
      }`,
      { "conf/a.json": goodKeys, "conf/b.json": goodKeys, "conf/c.json": goodKeys },
    );
    const server = config.http!.servers[0]!;
    const plain = locationOf(server, "/plain").loc;
    assert.equal(plain.authJwt?.off, false);
    assert.deepEqual(
      plain.authJwtKeySources?.map((source) => (source.kind === "loaded" ? source.keys.length : -1)),
      [3],
    );
    assert.equal(plain.authJwtLeewayMs, 30_000);
    assert.deepEqual(
      plain.authJwtRequire?.map((r) => [r.values.map((v) => v.source), r.status]),
      [[["$arg_a"], 401]],
    );
    const own = locationOf(server, "/own").loc;
    assert.equal(own.authJwtKeySources?.length, 2);
    assert.deepEqual(
      own.authJwtRequire?.map((r) => [r.values.map((v) => v.source), r.status]),
      [[["$arg_b"], 403]],
    );
    assert.equal(locationOf(server, "/off").loc.authJwt?.off, true);
    assert.equal(server.loc.authJwtType, undefined);
  });

  test("defaults: off, no keys, leeway 0s", async () => {
    const { config } = await load(`server { location / { } }`);
    const loc = locationOf(config.http!.servers[0]!, "/").loc;
    assert.equal(loc.authJwt, undefined);
    assert.equal(loc.authJwtKeySources, undefined);
    assert.equal(loc.authJwtLeewayMs, 0);
  });
});
