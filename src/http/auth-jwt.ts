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

import { readKeySet, type JwtKey } from "../config/modules/auth-jwt-keys.js";
import type { JwtKeySource, JwtRequirement } from "../config/modules/auth-jwt.js";
import { resolveFromPrefix } from "../config/paths.js";
import type { ErrorLog } from "../log/error-log.js";
import type { AuthAnswer } from "./auth-basic.js";
import { verifyJwt, type Verdict } from "./auth-jwt-verify.js";
import type { HttpRequest } from "./request.js";

const DECLINED: AuthAnswer = { kind: "declined" };
const OK: AuthAnswer = { kind: "ok" };
const INTERNAL_ERROR: AuthAnswer = { kind: "status", status: 500 };

/** The token a request's verdict was reached for: an internal redirect back into the phase verifies nothing again. */
const verdicts = new WeakMap<HttpRequest, { readonly token: string; readonly verdict: Promise<Verdict> }>();

/** Keys of key-file lists read at load, joined once per list. */
const joinedKeys = new WeakMap<readonly JwtKeySource[], readonly JwtKey[]>();

export function authJwt(r: HttpRequest, log: ErrorLog): AuthAnswer | Promise<AuthAnswer> {
  const setting = r.loc.authJwt;
  if (setting === undefined || setting.off) return DECLINED;
  const realm = setting.realm.evaluate(r);
  if (realm === "off") return DECLINED;
  const token = setting.token ? setting.token.evaluate(r) : bearerToken(r);
  if (token === undefined || token === "") {
    log.log("info", "no JWT was provided", r.logContext());
    return challenge(realm, false);
  }
  const keys = keysOf(r, log);
  if (keys === "error") return INTERNAL_ERROR;
  let entry = verdicts.get(r);
  if (entry === undefined || entry.token !== token) {
    entry = { token, verdict: verifyJwt(token, keys, r.loc.authJwtLeewayMs, Date.now()) };
    verdicts.set(r, entry);
  }
  return entry.verdict.then(
    (verdict) => answer(r, log, realm, verdict),
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

/** The keys for this request; undefined where no auth_jwt_key_file applies; "error" when a file cannot be used. */
function keysOf(r: HttpRequest, log: ErrorLog): readonly JwtKey[] | undefined | "error" {
  const sources = r.loc.authJwtKeyFiles;
  if (sources === undefined) return undefined;
  const joined = joinedKeys.get(sources);
  if (joined) return joined;
  const keys: JwtKey[] = [];
  let perRequest = false;
  for (const source of sources) {
    if (source.kind === "loaded") {
      keys.push(...source.keys);
      continue;
    }
    perRequest = true;
    const path = source.path.evaluate(r);
    const set = readKeySet(path.startsWith("/") ? path : resolveFromPrefix(source.confPrefix, path));
    if ("error" in set) {
      log.log("error", set.error, r.logContext());
      return "error";
    }
    keys.push(...set.keys);
  }
  if (!perRequest) joinedKeys.set(sources, keys);
  return keys;
}
