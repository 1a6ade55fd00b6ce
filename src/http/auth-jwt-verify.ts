/**
 * A signed JWT (RFC 7519 in a JWS compact serialization, RFC 7515) checked
 * as the NGINX Plus admin guide describes ("How NGINX Plus Validates a
 * JWT"): the signature verifies with a key of the configured sets, chosen by
 * the token's `kid` (when it has one) and `alg`; the token is inside the
 * period its `nbf` and `exp` claims give, give or take auth_jwt_leeway.
 * Where no auth_jwt_key_file is configured, the signature is not checked
 * ("If none of the directives are specified, JWS signature verification will
 * be skipped").
 *
 * The cryptography is the `jose` library's (compactVerify); this file only
 * chooses the keys and reads the claims.
 */

import type * as Jose from "jose";
import type { JwtKey } from "../config/modules/auth-jwt-keys.js";
import type { JwtFacts } from "../vars/source.js";

/**
 * jose is loaded with the first token to verify: a worker whose configuration has no
 * auth_jwt does not carry it (about 8 MB of resident memory at start).
 */
let joseModule: Promise<typeof Jose> | undefined;
const jose = (): Promise<typeof Jose> => (joseModule ??= import("jose"));

/** The JWS algorithms of the documentation, with PS256/384/512 (1.29.0). */
const ALGORITHMS: ReadonlySet<string> = new Set([
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "ES256",
  "ES384",
  "ES512",
  "PS256",
  "PS384",
  "PS512",
  "EdDSA",
]);

/** The curve an ECDSA algorithm signs with (RFC 7518 §3.4). */
const EC_CURVES: Readonly<Record<string, string>> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

/** The token's facts, or why it is refused (for the error log). */
export type Verdict = { readonly facts: JwtFacts } | { readonly refused: string };

/** Check `token` against `keys` (undefined: no key file configured) at `nowMs`. */
export async function verifyJwt(
  token: string,
  keys: readonly JwtKey[] | undefined,
  leewayMs: number,
  nowMs: number,
): Promise<Verdict> {
  const parts = token.split(".");
  if (parts.length === 5) return { refused: "JWT is encrypted (JWE), wsgate accepts signed tokens only" };
  if (parts.length !== 3) return { refused: "JWT is malformed" };
  const { decodeProtectedHeader } = await jose();
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    return { refused: "JWT header is malformed" };
  }
  const alg = header["alg"];
  if (typeof alg !== "string" || !ALGORITHMS.has(alg))
    return { refused: `JWT algorithm ${quoted(alg)} is not supported` };
  const payload = keys === undefined ? unverifiedPayload(parts[1]!) : await verifiedPayload(token, keys, header, alg);
  if (typeof payload !== "string") return payload;
  let claims: unknown;
  try {
    claims = JSON.parse(payload);
  } catch {
    return { refused: "JWT payload is not JSON" };
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    return { refused: "JWT payload is not a JSON object" };
  }
  const period = validityRefusal(claims as Record<string, unknown>, leewayMs, nowMs);
  if (period !== undefined) return { refused: period };
  return { facts: { header, claims: claims as Record<string, unknown>, payload } };
}

/** The keys a token may be signed with: its `kid` if it names one, then its `alg`. */
export function candidateKeys(keys: readonly JwtKey[], kid: unknown, alg: string): JwtKey[] {
  return keys.filter(
    (key) =>
      (kid === undefined || key.kid === kid) &&
      (key.alg === undefined || key.alg === alg) &&
      (key.use === undefined || key.use === "sig") &&
      fitsAlgorithm(key, alg),
  );
}

function fitsAlgorithm(key: JwtKey, alg: string): boolean {
  if (alg.startsWith("HS")) return key.kty === "oct";
  if (alg.startsWith("RS") || alg.startsWith("PS")) return key.kty === "RSA";
  if (alg.startsWith("ES")) return key.kty === "EC" && key.crv === EC_CURVES[alg];
  // Ed448 is not verified: jose 6 signs and verifies EdDSA with Ed25519 only.
  return key.kty === "OKP" && key.crv === "Ed25519";
}

async function verifiedPayload(
  token: string,
  keys: readonly JwtKey[],
  header: Record<string, unknown>,
  alg: string,
): Promise<string | { refused: string }> {
  const kid = header["kid"];
  const candidates = candidateKeys(keys, kid, alg);
  if (candidates.length === 0) {
    return { refused: kid === undefined ? `no JWT key for algorithm "${alg}"` : `no JWT key with kid ${quoted(kid)}` };
  }
  const { compactVerify } = await jose();
  for (const candidate of candidates) {
    try {
      const { payload } = await compactVerify(token, candidate.key, { algorithms: [alg] });
      return Buffer.from(payload).toString("utf8");
    } catch {
      // The next key of the same kid and alg may be the one (key rotation).
    }
  }
  return { refused: "JWT signature verification failed" };
}

function unverifiedPayload(part: string): string | { refused: string } {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return { refused: "JWT payload is malformed" };
  return Buffer.from(part, "base64url").toString("utf8");
}

/** exp and nbf (RFC 7519 §4.1.4, §4.1.5) against the clock, in whole seconds as nginx's ngx_time(). */
function validityRefusal(claims: Record<string, unknown>, leewayMs: number, nowMs: number): string | undefined {
  const now = Math.floor(nowMs / 1000);
  const leeway = Math.floor(leewayMs / 1000);
  const { exp, nbf } = claims;
  if (exp !== undefined && typeof exp !== "number") return `JWT "exp" claim is not a number`;
  if (nbf !== undefined && typeof nbf !== "number") return `JWT "nbf" claim is not a number`;
  if (exp !== undefined && now >= exp + leeway) return "JWT has expired";
  if (nbf !== undefined && now + leeway < nbf) return "JWT is not yet valid";
  return undefined;
}

function quoted(value: unknown): string {
  return JSON.stringify(typeof value === "string" ? value : String(value));
}
