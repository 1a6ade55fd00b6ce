/**
 * nginx's access phase (ngx_http_core_access_phase and the post-access
 * phase): the access module's allow/deny, then auth_basic, combined by
 * `satisfy`. With `all` the first refusal ends the request; with `any` the
 * first "ok" lets it through, and otherwise a 401 wins over a 403. A
 * refusal by rule is logged "access forbidden by rule".
 */

import type { ErrorLog } from "../log/error-log.js";
import { accessDecision } from "./access.js";
import { authBasic } from "./auth-basic.js";
import type { HttpRequest } from "./request.js";

/** undefined: on to the content phase; else the status to answer, with the headers it carries. */
export interface AccessRefusal {
  readonly status: number;
  readonly headers?: ReadonlyArray<[string, string]> | undefined;
}

export function accessPhase(r: HttpRequest, log: ErrorLog): AccessRefusal | undefined {
  const access = accessDecision(r.loc.accessRules, r.remoteAddress);
  if (r.loc.satisfy === "all") {
    if (access === "deny") return forbidden(r, log);
    const auth = authBasic(r, log);
    return auth.kind === "status" ? { status: auth.status, headers: auth.headers } : undefined;
  }
  if (access === "allow") return undefined;
  // r->access_code: what a refusal under "any" leaves for the post-access phase.
  let code = access === "deny" ? 403 : 0;
  const auth = authBasic(r, log);
  if (auth.kind === "ok") return undefined;
  let headers: ReadonlyArray<[string, string]> | undefined;
  if (auth.kind === "status") {
    if (auth.status !== 401 && auth.status !== 403) return { status: auth.status, headers: auth.headers };
    if (code !== 401) code = auth.status;
    headers = auth.headers;
  }
  if (code === 0) return undefined;
  return code === 403 ? forbidden(r, log) : { status: code, headers };
}

function forbidden(r: HttpRequest, log: ErrorLog): AccessRefusal {
  log.log("error", "access forbidden by rule", r.logContext());
  return { status: 403 };
}
