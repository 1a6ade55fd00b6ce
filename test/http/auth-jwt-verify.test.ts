/**
 * The token check without sockets: which keys a token may be verified with
 * (kid, then alg, the key's own alg and use), the refusals verifyJwt names,
 * the exp/nbf boundaries with leeway, and the text of the $jwt_ variables
 * (nested claims, arrays joined with commas, objects as JSON).
 */

import { describe, test } from "node:test";
import type { JWTPayload } from "jose";
import * as assert from "node:assert/strict";
import { parseKeySet, type JwtKey } from "../../src/config/modules/auth-jwt-keys.js";
import { candidateKeys, verifyJwt } from "../../src/http/auth-jwt-verify.js";
import { VariableRegistry } from "../../src/vars/registry.js";
import { registerJwtVariables, jwtPathGetter } from "../../src/vars/jwt-variables.js";
import { fakeSource } from "../vars/fake-source.js";
import { keySet, makeKey, sign, unsecured, type TestKey } from "../support/jwt.js";

function keysOf(...keys: TestKey[]): readonly JwtKey[] {
  const set = parseKeySet(keySet(...keys));
  assert.ok("keys" in set, JSON.stringify(set));
  return set.keys;
}

function refusal(verdict: Awaited<ReturnType<typeof verifyJwt>>): string | undefined {
  return "refused" in verdict ? verdict.refused : undefined;
}

describe("choosing keys", () => {
  test("kid first, then the algorithm; a key's own alg and use restrict it", async () => {
    const hs = await makeKey("HS256", "a");
    const rsa = await makeKey("RS256", "a");
    const es = await makeKey("ES256", "b");
    const keys = keysOf(hs, rsa, es);
    assert.deepEqual(
      candidateKeys(keys, "a", "RS512").map((k) => k.kty),
      ["RSA"],
    );
    assert.deepEqual(
      candidateKeys(keys, undefined, "HS384").map((k) => k.kty),
      ["oct"],
    );
    assert.deepEqual(candidateKeys(keys, "b", "ES384"), [], "ES384 needs P-384");
    assert.deepEqual(candidateKeys(keys, "c", "ES256"), []);
    const restricted = parseKeySet(
      JSON.stringify({
        keys: [
          { ...hs.jwk, alg: "HS512" },
          { ...hs.jwk, kid: "enc", use: "enc" },
        ],
      }),
    );
    assert.ok("keys" in restricted);
    assert.deepEqual(candidateKeys(restricted.keys, "a", "HS256"), []);
    assert.equal(candidateKeys(restricted.keys, "a", "HS512").length, 1);
    assert.deepEqual(candidateKeys(restricted.keys, "enc", "HS256"), []);
  });

  test("two keys with one kid (a rotation): the one that verifies wins", async () => {
    const old = await makeKey("HS256", "same");
    const current = await makeKey("HS256", "same");
    const token = await sign(current, { sub: "x" });
    const verdict = await verifyJwt(token, keysOf(old, current), 0, Date.now());
    assert.equal(refusal(verdict), undefined);
  });
});

describe("verifyJwt", () => {
  test("what is refused, and why", async () => {
    const key = await makeKey("HS256", "k");
    const keys = keysOf(key);
    const now = Date.now();
    const cases: Array<[string, string]> = [
      ["a.b.c.d.e", "JWT is encrypted (JWE), wsgate accepts signed tokens only"],
      ["a.b", "JWT is malformed"],
      ["!!.e30.", "JWT header is malformed"],
      [unsecured({ sub: "x" }), 'JWT algorithm "none" is not supported'],
      [await sign(key, { exp: "soon" } as never), 'JWT "exp" claim is not a number'],
    ];
    for (const [token, reason] of cases) assert.equal(refusal(await verifyJwt(token, keys, 0, now)), reason, token);
    const array = await sign(key, {});
    const [h, , s] = array.split(".");
    const notObject = `${h}.${Buffer.from("[1]").toString("base64url")}.${s}`;
    assert.equal(refusal(await verifyJwt(notObject, undefined, 0, now)), "JWT payload is not a JSON object");
  });

  test("exp and nbf at their boundaries, in whole seconds, with leeway", async () => {
    const key = await makeKey("HS256", "k");
    const keys = keysOf(key);
    const now = 1_700_000_000_500;
    const at = (claims: JWTPayload): Promise<string> => sign(key, claims);
    assert.equal(refusal(await verifyJwt(await at({ exp: 1_700_000_001 }), keys, 0, now)), undefined);
    assert.equal(refusal(await verifyJwt(await at({ exp: 1_700_000_000 }), keys, 0, now)), "JWT has expired");
    assert.equal(refusal(await verifyJwt(await at({ exp: 1_700_000_000 }), keys, 1000, now)), undefined);
    assert.equal(refusal(await verifyJwt(await at({ nbf: 1_700_000_000 }), keys, 0, now)), undefined);
    assert.equal(refusal(await verifyJwt(await at({ nbf: 1_700_000_001 }), keys, 0, now)), "JWT is not yet valid");
    assert.equal(refusal(await verifyJwt(await at({ nbf: 1_700_000_010 }), keys, 10_000, now)), undefined);
  });
});

describe("the $jwt_ variables", () => {
  test("top-level fields, nested paths, arrays and objects as text", () => {
    const registry = new VariableRegistry();
    registerJwtVariables(registry);
    registry.define("email", jwtPathGetter("claims", ["info", "e-mail"]), false);
    registry.define("groups", jwtPathGetter("claims", ["groups"]), false);
    registry.define("deep", jwtPathGetter("claims", ["info", "missing"]), false);
    const names = ["jwt_claim_sub", "jwt_claim_n", "jwt_claim_info", "jwt_claim_flag", "jwt_claim_nothing"];
    const indexes = [...names, "jwt_header_alg", "jwt_payload", "email", "groups", "deep"].map((n) =>
      registry.indexOf(n),
    );
    registry.link();
    const claims = {
      sub: "ann",
      n: 1.5,
      flag: true,
      nothing: null,
      info: { "e-mail": "a@b" },
      groups: ["x", 2, { y: 1 }],
    };
    const r = fakeSource({ jwt: { header: { alg: "ES256" }, claims, payload: JSON.stringify(claims) } });
    assert.deepEqual(
      indexes.map((i) => registry.lookup(r, i)),
      ["ann", "1.5", '{"e-mail":"a@b"}', "true", "", "ES256", JSON.stringify(claims), "a@b", 'x,2,{"y":1}', undefined],
    );
    const none = fakeSource();
    assert.deepEqual(
      indexes.map((i) => registry.lookup(none, i)),
      indexes.map(() => undefined),
      "not found without a token",
    );
  });
});
