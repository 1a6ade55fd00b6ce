/**
 * The JSON Web Key Sets of `auth_jwt_key_file` (RFC 7517 §5): read and
 * checked when the configuration is loaded (a path with variables: per
 * request), each key turned into a KeyObject once so that verifying a token
 * does no parsing. The signature itself is verified by the `jose` library
 * (http/auth-jwt-verify.ts).
 */

import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { systemErrorText } from "../../core/errors.js";

/** One key of a set, with the fields that choose it for a token. */
export interface JwtKey {
  /** "oct", "RSA", "EC", "OKP". */
  readonly kty: string;
  readonly kid: string | undefined;
  /** The algorithm the key is restricted to, when the set says. */
  readonly alg: string | undefined;
  readonly use: string | undefined;
  /** EC and OKP: the curve ("P-256", "Ed25519" …). */
  readonly crv: string | undefined;
  readonly key: KeyObject;
}

export type KeySetResult = { readonly keys: readonly JwtKey[] } | { readonly error: string };

/** The file at `path` as a key set, or the reason it is not one (nginx's words for a failed open()). */
export function readKeySet(path: string): KeySetResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return { error: `open() "${path}" failed (${systemErrorText(err)})` };
  }
  const set = parseKeySet(text);
  return "error" in set ? { error: `invalid JSON Web Key Set "${path}": ${set.error}` } : set;
}

export function parseKeySet(text: string): KeySetResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON (${(err as Error).message})` };
  }
  const list = (json as { keys?: unknown } | null)?.keys;
  if (typeof json !== "object" || json === null || !Array.isArray(list)) return { error: `no "keys" array` };
  const keys: JwtKey[] = [];
  for (let i = 0; i < list.length; i++) {
    const key = parseKey(list[i]);
    if ("error" in key) return { error: `key ${i + 1}: ${key.error}` };
    keys.push(key);
  }
  return { keys };
}

function parseKey(jwk: unknown): JwtKey | { error: string } {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) return { error: "not an object" };
  const fields = jwk as Record<string, unknown>;
  const kty = fields["kty"];
  for (const name of ["kid", "alg", "use", "crv"]) {
    if (fields[name] !== undefined && typeof fields[name] !== "string") return { error: `"${name}" is not a string` };
  }
  let key: KeyObject;
  try {
    if (kty === "oct") {
      const k = fields["k"];
      if (typeof k !== "string" || !/^[A-Za-z0-9_-]*$/.test(k)) return { error: `"k" is not base64url` };
      key = createSecretKey(Buffer.from(k, "base64url"));
    } else if (kty === "RSA" || kty === "EC" || kty === "OKP") {
      // A private key in the set is accepted: its public half verifies.
      key = createPublicKey({ key: fields as never, format: "jwk" });
    } else {
      return { error: `unsupported "kty" ${JSON.stringify(kty)}` };
    }
  } catch (err) {
    return { error: (err as Error).message };
  }
  return {
    kty,
    kid: fields["kid"] as string | undefined,
    alg: fields["alg"] as string | undefined,
    use: fields["use"] as string | undefined,
    crv: fields["crv"] as string | undefined,
    key,
  };
}
