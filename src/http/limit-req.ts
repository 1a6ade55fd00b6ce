/**
 * ngx_http_limit_req_handler(), a preaccess check: every limit_req of the
 * location looked up and accounted in its zone in one operation (an empty
 * key is skipped; one over 65535 bytes is logged and skipped). Over a
 * limit's burst: "limiting requests, excess: N by zone" at
 * limit_req_log_level and limit_req_status. Within it, past the limit's
 * `delay` (0 by default, none with `nodelay`): "delaying request, excess: N,
 * by zone" one level lower (info stays info) and the request waits the
 * longest delay a limit asks, by a timer, then goes on with the next check.
 * limit_req_dry_run logs the same with ", dry run" and lets the request
 * through at once. The outcome is $limit_req_status; once set (r->main's),
 * an internal redirect is not counted again.
 */

import type { LimitLogLevel } from "../config/modules/limit-slots.js";
import type { AuthAnswer } from "./auth-basic.js";
import type { PhaseCheck, PhaseContext } from "./phase-checks.js";
import type { HttpRequest } from "./request.js";
import { sharedZones, ZoneUnavailable, type ReqCheck, type ReqLimit } from "./shared-zones.js";
import { excessText, zoneRef } from "./zone-refs.js";

const DECLINED: AuthAnswer = { kind: "declined" };
const MAX_KEY = 65535;
/** What a zone that does not answer counts as: nginx's nearest case, a zone that cannot serve (NGX_ERROR). */
const UNAVAILABLE: ReqCheck = { rc: "error", excess: 0, index: 0, delay: 0 };

export const limitReqCheck: PhaseCheck = (r, context) => {
  if (r.limitReqStatus !== undefined) return DECLINED;
  const rules = r.loc.limitReqs;
  if (rules.length === 0) return DECLINED;
  let counted = false;
  const limits = rules.map((rule): ReqLimit => {
    const source = rule.zone.key!;
    let key: string | null = source.evaluate(r);
    if (key.length > MAX_KEY) {
      const message = `the value of the "${source.source}" key is more than ${MAX_KEY} bytes: "${key}"`;
      context.log.log("error", message, r.logContext());
      key = null;
    } else if (key.length === 0) {
      key = null;
    }
    if (key !== null) counted = true;
    return { zone: zoneRef(rule.zone), key, rate: rule.zone.rate, burst: rule.burst, delay: rule.delay };
  });
  // Every key empty: nginx declines without touching a zone.
  if (!counted) return DECLINED;
  const answer = sharedZones().apply({ op: "req-check", limits });
  if (answer instanceof Promise) {
    return answer
      .catch((err: unknown): ReqCheck => {
        if (err instanceof ZoneUnavailable) return UNAVAILABLE;
        throw err;
      })
      .then((later) => decide(r, context, later));
  }
  return decide(r, context, answer);
};

function decide(r: HttpRequest, context: PhaseContext, answer: ReqCheck): AuthAnswer | Promise<AuthAnswer> {
  const conf = r.loc;
  if (answer.rc === "declined") return DECLINED;
  const zone = conf.limitReqs[answer.index]!.zone.name;
  const excess = excessText(answer.excess);
  const dry = conf.limitReqDryRun ? ", dry run" : "";
  if (answer.rc === "busy" || answer.rc === "error") {
    if (answer.rc === "busy") {
      const line = `limiting requests${dry}, excess: ${excess} by zone "${zone}"`;
      context.log.log(conf.limitReqLogLevel, line, r.logContext());
    } else {
      context.log.log("alert", `could not allocate node in limit_req zone "${zone}"`);
    }
    if (conf.limitReqDryRun) {
      r.limitReqStatus = "REJECTED_DRY_RUN";
      return DECLINED;
    }
    r.limitReqStatus = "REJECTED";
    return { kind: "status", status: conf.limitReqStatus };
  }
  if (answer.delay === 0) {
    r.limitReqStatus = "PASSED";
    return DECLINED;
  }
  const line = `delaying request${dry}, excess: ${excess}, by zone "${zone}"`;
  context.log.log(delayLevel(conf.limitReqLogLevel), line, r.logContext());
  if (conf.limitReqDryRun) {
    r.limitReqStatus = "DELAYED_DRY_RUN";
    return DECLINED;
  }
  r.limitReqStatus = "DELAYED";
  return new Promise((resolve) => setTimeout(() => resolve(DECLINED), answer.delay));
}

/** ngx_http_limit_req_merge_conf(): delays are logged one level below refusals, info staying info. */
function delayLevel(level: LimitLogLevel): LimitLogLevel {
  if (level === "error") return "warn";
  if (level === "warn") return "notice";
  return "info";
}
