/**
 * The checks of the preaccess and access phases, in the order nginx runs its
 * modules' handlers (ngx_http_init_phase_handlers() calls a phase's handlers
 * in the reverse of the modules' order in auto/modules): in preaccess
 * limit_req before limit_conn (realip's location pass runs before both, in
 * phases.ts), after wsgate_origin (origin-check.ts says why it is first); in
 * access allow/deny, then auth_basic, then the token and subrequest checks.
 *
 * A check answers "declined" (not configured here, or nothing to say), "ok"
 * or a status — at once, or later as a Promise.
 */

import type { ErrorLog } from "../log/error-log.js";
import { accessDecision } from "./access.js";
import { authBasic, type AuthAnswer } from "./auth-basic.js";
import { authJwt } from "./auth-jwt.js";
import type { HttpRequest } from "./request.js";
import { originCheck } from "./origin-check.js";
import type { Subrequest } from "./subrequest.js";
import { authRequest } from "./auth-request.js";
import { limitConnCheck } from "./limit-conn.js";
import { limitReqCheck } from "./limit-req.js";

/** What a check may use besides the request. */
export interface PhaseContext {
  readonly log: ErrorLog;
  /** Subrequests of the request (auth_request's). */
  readonly subrequest: Subrequest;
}

export type PhaseCheck = (r: HttpRequest, context: PhaseContext) => AuthAnswer | Promise<AuthAnswer>;

const DECLINED: AuthAnswer = { kind: "declined" };
const OK: AuthAnswer = { kind: "ok" };
const FORBIDDEN: AuthAnswer = { kind: "status", status: 403 };

/** ngx_http_access_handler(): the first matching rule; a refusal is logged here only under `satisfy all`. */
const accessRules: PhaseCheck = (r, context) => {
  const decision = accessDecision(r.loc.accessRules, r.remoteAddress);
  if (decision === "declined") return DECLINED;
  if (decision === "allow") return OK;
  if (r.loc.satisfy === "all") context.log.log("error", "access forbidden by rule", r.logContext());
  return FORBIDDEN;
};

export const PREACCESS_CHECKS: PhaseCheck[] = [
  (r, context) => originCheck(r, context.log),
  limitReqCheck,
  limitConnCheck,
];

export const ACCESS_CHECKS: PhaseCheck[] = [
  accessRules,
  (r, context) => authBasic(r, context.log),
  (r, context) => authJwt(r, context),
  (r, context) => authRequest(r, context),
];
