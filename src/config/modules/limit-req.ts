/**
 * ngx_http_limit_req_module's directives: `limit_req_zone KEY
 * zone=NAME:SIZE rate=Nr/s|Nr/m` (http), `limit_req zone=NAME [burst=N]
 * [nodelay | delay=N]` (several per level, one per zone; a level with its
 * own replaces the inherited list), `limit_req_status`,
 * `limit_req_log_level`, `limit_req_dry_run`. Rates, bursts and delays are
 * kept in nginx's units of 1/1000 request. The check is src/http/limit-req.ts.
 */

import type { ConfModule } from "../module.js";
import { placeOf, HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { directiveError, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { addSharedZone, parseZoneParameter, type SharedZoneDecl } from "./shared-zones.js";
import { dryRunSlot, logLevelSlot, parseAtoi, statusSlot, type LimitLogLevel } from "./limit-slots.js";

/** `nodelay`: nginx's NGX_MAX_INT_T_VALUE / 1000 requests, an excess never reached. */
export const NO_DELAY = Math.floor(Number.MAX_SAFE_INTEGER / 1000) * 1000;

/** One `limit_req` of a level. */
export interface LimitReqRule {
  readonly zone: SharedZoneDecl<"limit_req">;
  /** burst × 1000. */
  readonly burst: number;
  /** delay × 1000 (0 by default: every excess request waits; NO_DELAY for `nodelay`). */
  readonly delay: number;
}

export interface LimitReqLocConf {
  /** The level's limit_req list; [] where no level sets one. */
  limitReqs: readonly LimitReqRule[];
  limitReqLogLevel: LimitLogLevel;
  limitReqStatus: number;
  limitReqDryRun: boolean;
}

const LIMIT_REQ_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "limit_req_zone",
    contexts: ["http"],
    args: [3],
    handle: (scope, node) => {
      const key = ComplexValue.compile(node.args[0]!, scope.http!.registry, placeOf(node));
      let zoneArg: [string, number] | undefined;
      let rate = 1;
      let scale = 1;
      for (const arg of node.args.slice(1)) {
        if (arg.startsWith("zone=")) {
          zoneArg = parseZoneParameter(node, arg);
        } else if (arg.startsWith("rate=")) {
          let digits = arg.slice(5);
          if (arg.endsWith("r/s")) digits = arg.slice(5, -3);
          else if (arg.endsWith("r/m")) [digits, scale] = [arg.slice(5, -3), 60];
          rate = parseAtoi(digits) ?? 0;
          if (rate <= 0) throw valueError(node, `invalid rate "${arg}"`);
        } else {
          throw valueError(node, `invalid parameter "${arg}"`);
        }
      }
      if (zoneArg === undefined || zoneArg[0] === "") {
        throw valueError(node, `"${node.name}" must have "zone" parameter`);
      }
      const [name, size] = zoneArg;
      const zone = addSharedZone(scope, node, name, size, "limit_req");
      if (zone.key !== undefined) {
        throw valueError(node, `${node.name} "${name}" is already bound to key "${zone.key.source}"`);
      }
      zone.key = key;
      // ctx->rate = rate * 1000 / scale, in integers: 1r/m is 16 thousandths a second.
      zone.rate = Math.floor((rate * 1000) / scale);
    },
  },
  {
    name: "limit_req",
    contexts: HTTP_CONTEXTS,
    args: [1, 2, 3],
    handle: (scope, node) => {
      let zone: SharedZoneDecl<"limit_req"> | undefined;
      let burst = 0;
      let delay = 0;
      for (const arg of node.args) {
        if (arg.startsWith("zone=")) {
          zone = addSharedZone(scope, node, arg.slice(5), 0, "limit_req");
        } else if (arg.startsWith("burst=")) {
          burst = parseAtoi(arg.slice(6)) ?? 0;
          if (burst <= 0) throw valueError(node, `invalid burst value "${arg}"`);
        } else if (arg.startsWith("delay=")) {
          delay = parseAtoi(arg.slice(6)) ?? 0;
          if (delay <= 0) throw valueError(node, `invalid delay value "${arg}"`);
        } else if (arg === "nodelay") {
          delay = NO_DELAY / 1000;
        } else {
          throw valueError(node, `invalid parameter "${arg}"`);
        }
      }
      if (zone === undefined) throw valueError(node, `"${node.name}" must have "zone" parameter`);
      const rules = (scope.loc!.limitReqs ??= []) as LimitReqRule[];
      if (rules.some((rule) => rule.zone === zone)) throw directiveError(node, "is duplicate");
      rules.push({ zone, burst: burst * 1000, delay: delay * 1000 });
    },
  },
  logLevelSlot("limit_req_log_level", "limitReqLogLevel"),
  statusSlot("limit_req_status", "limitReqStatus"),
  dryRunSlot("limit_req_dry_run", "limitReqDryRun"),
];

export const LIMIT_REQ_MODULE: ConfModule<LimitReqLocConf> = {
  name: "ngx_http_limit_req_module",
  directives: LIMIT_REQ_DIRECTIVES,
  createLoc: () => ({ limitReqs: [], limitReqLogLevel: "error", limitReqStatus: 503, limitReqDryRun: false }),
};
