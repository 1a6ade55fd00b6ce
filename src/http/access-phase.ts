/**
 * nginx's preaccess, access and post-access phases (ngx_http_core_generic_phase,
 * ngx_http_core_access_phase, ngx_http_core_post_access_phase), as a list of
 * checks per phase in nginx's order (phase-checks.ts).
 *
 * A check answers at once or later (a Promise: a subrequest, a limit shared
 * with the other workers, a delay), so a request waits in these phases
 * without blocking the process; checks that answer at once cost no Promise.
 *
 * Preaccess: "declined" goes on to the next check, "ok" ends the phase, a
 * status ends the request. Access, under `satisfy all`: every check must let
 * the request through ("ok" or "declined"), the first refusal ends it. Under
 * `satisfy any`: the first "ok" ends the phase; a 401 or 403 is remembered
 * (r->access_code, a 401 winning over a 403) and the next check runs; the
 * post-access phase answers what was remembered. A refusal by rule is logged
 * "access forbidden by rule".
 */

import type { AuthAnswer } from "./auth-basic.js";
import type { HttpRequest } from "./request.js";
import { ACCESS_CHECKS, PREACCESS_CHECKS, type PhaseCheck, type PhaseContext } from "./phase-checks.js";

/** undefined: on to the content phase; else the status to answer, with the headers it carries. */
export interface AccessRefusal {
  readonly status: number;
  readonly headers?: ReadonlyArray<[string, string]> | undefined;
}

export type AccessResult = AccessRefusal | undefined;

/** The preaccess and access phases of `r`: their result now, or a Promise of it when a check answers later. */
export function accessPhases(r: HttpRequest, context: PhaseContext): AccessResult | Promise<AccessResult> {
  const preaccess = runPreaccess(r, context, 0);
  if (preaccess instanceof Promise) {
    return preaccess.then((refusal) => (refusal !== undefined || r.finished ? refusal : runAccess(r, context)));
  }
  return preaccess ?? runAccess(r, context);
}

function runPreaccess(r: HttpRequest, context: PhaseContext, from: number): AccessResult | Promise<AccessResult> {
  for (let i = from; i < PREACCESS_CHECKS.length; i++) {
    const answer = PREACCESS_CHECKS[i]!(r, context);
    if (answer instanceof Promise) {
      return answer.then((later) => {
        const result = preaccessAnswer(later);
        if (result !== "next" || r.finished) return result === "next" ? undefined : result;
        return runPreaccess(r, context, i + 1);
      });
    }
    const result = preaccessAnswer(answer);
    if (result !== "next") return result;
  }
  return undefined;
}

/** ngx_http_core_generic_phase(): NGX_OK ends the phase, NGX_DECLINED asks the next check. */
function preaccessAnswer(answer: AuthAnswer): AccessResult | "next" {
  if (answer.kind === "declined") return "next";
  if (answer.kind === "ok") return undefined;
  return refusal(answer);
}

function runAccess(r: HttpRequest, context: PhaseContext): AccessResult | Promise<AccessResult> {
  return new AccessRun(r, context).run(0);
}

/** One request's way through the access checks: what `satisfy any` remembers between them. */
class AccessRun {
  /** r->access_code: the refusal `satisfy any` keeps for the post-access phase. */
  private code = 0;
  private headers: ReadonlyArray<[string, string]> | undefined;
  private readonly all: boolean;

  constructor(
    private readonly r: HttpRequest,
    private readonly context: PhaseContext,
  ) {
    this.all = r.loc.satisfy === "all";
  }

  run(from: number): AccessResult | Promise<AccessResult> {
    const checks: readonly PhaseCheck[] = ACCESS_CHECKS;
    for (let i = from; i < checks.length; i++) {
      const answer = checks[i]!(this.r, this.context);
      if (answer instanceof Promise) {
        return answer.then((later) => {
          const result = this.answer(later);
          return result !== "next" || this.r.finished ? this.settled(result) : this.run(i + 1);
        });
      }
      const result = this.answer(answer);
      if (result !== "next") return this.settled(result);
    }
    return this.postAccess();
  }

  /** ngx_http_core_access_phase(): what one check's answer means under the location's `satisfy`. */
  private answer(answer: AuthAnswer): AccessResult | "done" | "next" {
    if (answer.kind === "declined") return "next";
    if (answer.kind === "ok") return this.all ? "next" : "done";
    const { status } = answer;
    if (this.all || (status !== 401 && status !== 403)) return refusal(answer);
    if (this.code !== 401) this.code = status;
    // Each check's headers go to r->headers_out and stay there: auth_basic's and auth_request's challenges both.
    if (answer.headers) this.headers = this.headers ? [...this.headers, ...answer.headers] : answer.headers;
    return "next";
  }

  private settled(result: AccessResult | "done" | "next"): AccessResult {
    return result === "done" || result === "next" ? undefined : result;
  }

  /** ngx_http_core_post_access_phase(): the remembered refusal of `satisfy any`. */
  private postAccess(): AccessResult {
    if (this.code === 0) return undefined;
    if (this.code === 403) {
      this.context.log.log("error", "access forbidden by rule", this.r.logContext());
      return { status: 403 };
    }
    return { status: this.code, headers: this.headers };
  }
}

function refusal(answer: Extract<AuthAnswer, { kind: "status" }>): AccessRefusal {
  return answer.headers ? { status: answer.status, headers: answer.headers } : { status: answer.status };
}
