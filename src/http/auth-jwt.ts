/**
 * The access-phase check of auth_jwt (ngx_http_auth_jwt_module, as
 * nginx.org documents it): the token from `Authorization: Bearer …`, or from
 * the variable `token=` names ($arg_token, $cookie_auth: a browser cannot
 * set headers on a WebSocket); verified once per request (auth-jwt-verify.ts,
 * with `jose`); then every `auth_jwt_require` value must be non-empty and not
 * "0". The accepted token's header and claims become the request's
 * $jwt_header_NAME, $jwt_claim_NAME and $jwt_payload for every later phase
 * (the upstream's `hash`, proxy_set_header, the access log).
 *
 * Answers (RFC 6750 §3): no token — 401 with `WWW-Authenticate: Bearer
 * realm="REALM"`; a token refused — 401 with `Bearer realm="REALM",
 * error="invalid_token"`; an auth_jwt_require not met — its error code, 401
 * with the invalid_token challenge or 403 without one; a key file with
 * variables that cannot be read — 500, as the documentation says. Refusals of
 * the client's token are logged at `info` (the client's fault, as nginx logs
 * "no user/password was provided for basic authentication"); key files at
 * `error`.
 */

import type { JwtRequirement } from "../config/modules/auth-jwt.js";
import type { ErrorLog } from "../log/error-log.js";
import { keysOf, type KeyContext, type KeysFound } from "./auth-jwt-key-sources.js";
import type { AuthAnswer } from "./auth-basic.js";
import { verifyJwt, type Verdict } from "./auth-jwt-verify.js";
import type { HttpRequest } from "./request.js";

const DECLINED: AuthAnswer = { kind: "declined" };
const OK: AuthAnswer = { kind: "ok" };
const INTERNAL_ERROR: AuthAnswer = { kind: "status", status: 500 };

/** The token a request's verdict was reached for: an internal redirect back into the phase verifies nothing again. */
const verdicts = new WeakMap<HttpRequest, { readonly token: string; readonly verdict: Promise<Verdict> }>();

export function authJwt(r: HttpRequest, context: KeyContext): AuthAnswer | Promise<AuthAnswer> {
  const { log } = context;
  const setting = r.loc.authJwt;
  if (setting === undefined || setting.off) return DECLINED;
  const realm = setting.realm.evaluate(r);
  if (realm === "off") return DECLINED;
  const token = setting.token ? setting.token.evaluate(r) : bearerToken(r);
  if (token === undefined || token === "") {
    log.log("info", "no JWT was provided", r.logContext());
    return challenge(realm, false);
  }
  const entry = verdicts.get(r);
  if (entry !== undefined && entry.token === token) return settle(r, log, realm, entry.verdict);
  const keys = keysOf(r, context);
  if (keys instanceof Promise) return keys.then((found) => verify(r, log, realm, token, found));
  return verify(r, log, realm, token, keys);
}

/** Verify `token` with the keys found (once per request and token), then answer. */
function verify(
  r: HttpRequest,
  log: ErrorLog,
  realm: string,
  token: string,
  keys: KeysFound,
): AuthAnswer | Promise<AuthAnswer> {
  if (keys === "error") return INTERNAL_ERROR;
  const verdict = verifyJwt(token, keys, r.loc.authJwtLeewayMs, Date.now());
  verdicts.set(r, { token, verdict });
  return settle(r, log, realm, verdict);
}

function settle(r: HttpRequest, log: ErrorLog, realm: string, verdict: Promise<Verdict>): Promise<AuthAnswer> {
  return verdict.then(
    (settled) => answer(r, log, realm, settled),
    (err: unknown) => {
      log.log("error", `JWT verification failed (${(err as Error).message})`, r.logContext());
      return INTERNAL_ERROR;
    },
  );
}

function answer(r: HttpRequest, log: ErrorLog, realm: string, verdict: Verdict): AuthAnswer {
  if ("refused" in verdict) {
    log.log("info", verdict.refused, r.logContext());
    return challenge(realm, true);
  }
  r.jwt = verdict.facts;
  for (const requirement of r.loc.authJwtRequire ?? []) {
    if (met(r, requirement)) continue;
    const values = requirement.values.map((value) => value.source).join(" ");
    log.log("info", `JWT does not meet the requirement "${values}"`, r.logContext());
    return requirement.status === 403 ? { kind: "status", status: 403 } : challenge(realm, true);
  }
  return OK;
}

/** "The authentication will succeed only if all the values are not empty and are not equal to “0”." */
function met(r: HttpRequest, requirement: JwtRequirement): boolean {
  return requirement.values.every((value) => {
    const text = value.evaluate(r);
    return text !== "" && text !== "0";
  });
}

function challenge(realm: string, invalidToken: boolean): AuthAnswer {
  const value = invalidToken ? `Bearer realm="${realm}", error="invalid_token"` : `Bearer realm="${realm}"`;
  return { kind: "status", status: 401, headers: [["WWW-Authenticate", value]] };
}

/** RFC 6750 §2.1: `Authorization: Bearer TOKEN` (the scheme in any case); the first Authorization header. */
function bearerToken(r: HttpRequest): string | undefined {
  const field = r.headers.find(([name]) => name.toLowerCase() === "authorization");
  const match = field && /^bearer +(\S+) *$/i.exec(field[1]);
  return match?.[1];
}
