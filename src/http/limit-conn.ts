/**
 * ngx_http_limit_conn_handler(), a preaccess check: for each limit_conn of
 * the location, in order, a slot for the request's key in the zone (an empty
 * key is not counted; one over 255 bytes is logged and not counted). The
 * slots are held until the request ends — for a WebSocket tunnel, until the
 * tunnel closes — and given back then (addCleanup). A key at its limit: the
 * slots this request took are given back at once, "limiting connections by
 * zone" is logged at limit_conn_log_level, and limit_conn_status answers
 * (with limit_conn_dry_run on: logged with ", dry run," and let through). A
 * zone without room for a new key refuses the same way, with the slab
 * allocator's [crit] line instead.
 * The request's outcome is $limit_conn_status; once set (r->main's), an
 * internal redirect is not counted again.
 */

import type { AuthAnswer } from "./auth-basic.js";
import type { PhaseCheck, PhaseContext } from "./phase-checks.js";
import { addCleanup, type HttpRequest } from "./request.js";
import { sharedZones, ZoneUnavailable, type ConnTake, type ZoneRef } from "./shared-zones.js";
import { zoneRef } from "./zone-refs.js";

const DECLINED: AuthAnswer = { kind: "declined" };
const MAX_KEY = 255;

/** The zone's answer, or "unavailable": the master did not answer in time (refused as a full zone is). */
type Outcome = ConnTake | "unavailable";

export const limitConnCheck: PhaseCheck = (r, context) => {
  if (r.limitConnStatus !== undefined || r.loc.limitConns.length === 0) return DECLINED;
  return new ConnRun(r, context).step(0);
};

/** One request's way through its location's limit_conn list. */
class ConnRun {
  /** The slots taken, given back when the request ends (or at once on a refusal). */
  private held: Array<[ZoneRef, string]> = [];

  constructor(
    private readonly r: HttpRequest,
    private readonly context: PhaseContext,
  ) {}

  step(from: number): AuthAnswer | Promise<AuthAnswer> {
    const rules = this.r.loc.limitConns;
    for (let i = from; i < rules.length; i++) {
      const rule = rules[i]!;
      const source = rule.zone.key!;
      const key = source.evaluate(this.r);
      if (key.length === 0) continue;
      if (key.length > MAX_KEY) {
        const message = `the value of the "${source.source}" key is more than ${MAX_KEY} bytes: "${key}"`;
        this.context.log.log("error", message, this.r.logContext());
        continue;
      }
      this.r.limitConnStatus = "PASSED";
      const zone = zoneRef(rule.zone);
      const answer = sharedZones().apply({ op: "conn-take", zone, key, limit: rule.conn });
      if (answer instanceof Promise) {
        return answer
          .catch((err: unknown): Outcome => {
            if (err instanceof ZoneUnavailable) return "unavailable";
            throw err;
          })
          .then((later) => this.answered(i, zone, key, later) ?? this.step(i + 1));
      }
      const refusal = this.answered(i, zone, key, answer);
      if (refusal) return refusal;
    }
    return DECLINED;
  }

  /** A refusal, or undefined to go on with the next limit. */
  private answered(i: number, zone: ZoneRef, key: string, answer: Outcome): AuthAnswer | undefined {
    if (answer === "passed") {
      if (this.held.push([zone, key]) === 1) addCleanup(this.r, () => this.giveBack());
      return undefined;
    }
    const conf = this.r.loc;
    const name = conf.limitConns[i]!.zone.name;
    if (answer === "limited") {
      const dry = conf.limitConnDryRun ? ", dry run," : "";
      this.context.log.log(conf.limitConnLogLevel, `limiting connections${dry} by zone "${name}"`, this.r.logContext());
    } else if (answer === "full") {
      // ngx_slab_alloc_locked() failing in a limit_conn zone (whose pool logs it, unlike limit_req's).
      this.context.log.log("crit", `ngx_slab_alloc() failed: no memory in limit_conn_zone "${name}"`);
    }
    // ngx_http_limit_conn_cleanup_all(): what this request took so far goes back now.
    this.giveBack();
    if (conf.limitConnDryRun) {
      this.r.limitConnStatus = "REJECTED_DRY_RUN";
      return DECLINED;
    }
    this.r.limitConnStatus = "REJECTED";
    return { kind: "status", status: conf.limitConnStatus };
  }

  private giveBack(): void {
    const held = this.held;
    this.held = [];
    for (const [zone, key] of held) void sharedZones().apply({ op: "conn-give", zone, key });
  }
}
