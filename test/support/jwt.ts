/**
 * Keys and tokens for the auth_jwt tests, made with `jose`: a key pair (or
 * secret) per algorithm family, its public half as a JWK with a `kid`, the
 * JSON Web Key Set text for auth_jwt_key_file, signed tokens, and the usual
 * forgeries (another key, an altered payload, `alg: none`).
 */

import { request } from "node:http";
import { withTimeout } from "./wait.js";
import { exportJWK, generateKeyPair, generateSecret, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

export interface TestKey {
  readonly alg: string;
  readonly kid: string;
  /** What signs: a private CryptoKey or the HMAC secret. */
  readonly signing: CryptoKey | Uint8Array;
  /** What goes in the key file. */
  readonly jwk: JWK;
}

/** A key for `alg` named `kid` (a fresh one each call). */
export async function makeKey(alg: string, kid: string): Promise<TestKey> {
  if (alg.startsWith("HS")) {
    const secret = (await generateSecret(alg, { extractable: true })) as CryptoKey;
    const jwk = await exportJWK(secret);
    return { alg, kid, signing: Buffer.from(jwk.k!, "base64url"), jwk: { kty: "oct", k: jwk.k!, kid } };
  }
  const options = alg === "EdDSA" ? { crv: "Ed25519", extractable: true } : { extractable: true };
  const pair = await generateKeyPair(alg, options);
  return { alg, kid, signing: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid } };
}

/** The text of a JSON Web Key Set holding these keys' public halves. */
export function keySet(...keys: ReadonlyArray<TestKey | JWK>): string {
  return JSON.stringify({ keys: keys.map((key) => ("jwk" in key ? key.jwk : key)) });
}

/** A token signed by `key` (with its kid unless `header.kid` says otherwise; `kid: undefined` leaves it out). */
export async function sign(
  key: TestKey,
  claims: JWTPayload,
  header: { kid?: string | undefined; alg?: string } = { kid: key.kid },
): Promise<string> {
  const protectedHeader = { alg: header.alg ?? key.alg, ...(header.kid !== undefined ? { kid: header.kid } : {}) };
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key.signing);
}

/** The token with another payload, signature kept. */
export function withPayload(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split(".");
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
}

/** An unsecured JWT (RFC 7519 §6): `alg: none`, no signature. */
export function unsecured(claims: JWTPayload, kid?: string): string {
  const header = { alg: "none", ...(kid !== undefined ? { kid } : {}) };
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part(header)}.${part(claims)}.`;
}

/** Seconds since the epoch, `offset` seconds from now. */
export function epoch(offset = 0): number {
  return Math.floor(Date.now() / 1000) + offset;
}

/** The status of a GET of `path` on 127.0.0.1:`port`, with `Authorization: Bearer TOKEN` when a token is given. */
export function bearerStatus(port: number, path: string, token?: string): Promise<number> {
  const reply = new Promise<number>((resolve, reject) => {
    const headers = token !== undefined ? { Authorization: `Bearer ${token}` } : {};
    const req = request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
  return withTimeout(reply, 5000, `GET ${path}`);
}
