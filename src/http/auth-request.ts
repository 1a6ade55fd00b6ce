/**
 * ngx_http_auth_request_handler(): the access-phase check of auth_request.
 * A subrequest for the configured URI (its body never read: nginx's
 * header_only subrequest with an empty request body) decides: a 2xx lets
 * the request through, a 401 refuses it with the subrequest's
 * WWW-Authenticate lines, a 403 refuses it, and any other status is a 500
 * with "auth request unexpected status: N" at error. Before that verdict,
 * the auth_request_set variables are evaluated in the subrequest (its
 * $upstream_http_…, $upstream_status, $sent_http_…) and stored in the main
 * request, where proxy_set_header, add_header and the access log read them.
 */

import type { AuthRequestLocConf } from "../config/modules/auth-request.js";
import type { AuthAnswer } from "./auth-basic.js";
import type { PhaseContext } from "./phase-checks.js";
import type { HttpRequest } from "./request.js";
import type { SubrequestResult } from "./subrequest.js";

const DECLINED: AuthAnswer = { kind: "declined" };
const OK: AuthAnswer = { kind: "ok" };

export function authRequest(r: HttpRequest, context: PhaseContext): AuthAnswer | Promise<AuthAnswer> {
  const uri = r.loc.authRequest;
  if (uri === undefined || uri === "") return DECLINED;
  return context.subrequest(r, uri, "", { body: false }).then((done) => verdict(r, context, done));
}

function verdict(r: HttpRequest, context: PhaseContext, done: SubrequestResult): AuthAnswer {
  setVariables(r, context, r.loc.authRequestSet, done.request);
  const { status } = done;
  if (status === 403) return { kind: "status", status };
  if (status === 401) {
    // r->headers_out.www_authenticate: every challenge of the subrequest's response, as it named them.
    const challenges = done.headers
      .filter(([name]) => name.toLowerCase() === "www-authenticate")
      .map(([name, value]): [string, string] => [name, value]);
    return challenges.length > 0 ? { kind: "status", status, headers: challenges } : { kind: "status", status };
  }
  // NGX_HTTP_OK up to NGX_HTTP_SPECIAL_RESPONSE.
  if (status >= 200 && status < 300) return OK;
  context.log.log("error", `auth request unexpected status: ${status}`, r.logContext());
  return { kind: "status", status: 500 };
}

/** ngx_http_auth_request_set_variables(): each value evaluated in the subrequest, stored in the main request. */
function setVariables(
  r: HttpRequest,
  context: PhaseContext,
  variables: AuthRequestLocConf["authRequestSet"],
  sr: HttpRequest,
): void {
  for (const variable of variables ?? []) {
    const value = variable.value.evaluate(sr);
    if (variable.setter === undefined) {
      r.variableCache[variable.index] = value;
      continue;
    }
    const refused = variable.setter(r, value);
    if (refused !== undefined) context.log.log("error", refused, r.logContext());
  }
}
