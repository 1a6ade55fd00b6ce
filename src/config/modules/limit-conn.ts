/**
 * ngx_http_limit_conn_module's directives: `limit_conn_zone KEY
 * zone=NAME:SIZE` (http), `limit_conn ZONE NUMBER` (several per level, one
 * per zone; a level with its own replaces the inherited list),
 * `limit_conn_status`, `limit_conn_log_level`, `limit_conn_dry_run`. The
 * check itself is src/http/limit-conn.ts.
 */

import type { ConfModule } from "../module.js";
import { placeOf, HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { directiveError, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { addSharedZone, parseZoneParameter, type SharedZoneDecl } from "./shared-zones.js";
import { dryRunSlot, logLevelSlot, parseAtoi, statusSlot, type LimitLogLevel } from "./limit-slots.js";

/** One `limit_conn` of a level. */
export interface LimitConnRule {
  readonly zone: SharedZoneDecl<"limit_conn">;
  /** Connections allowed at once per key (1 … 65535). */
  readonly conn: number;
}

export interface LimitConnLocConf {
  /** The level's limit_conn list; [] where no level sets one. */
  limitConns: readonly LimitConnRule[];
  limitConnLogLevel: LimitLogLevel;
  limitConnStatus: number;
  limitConnDryRun: boolean;
}

const LIMIT_CONN_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "limit_conn_zone",
    contexts: ["http"],
    args: [2],
    handle: (scope, node) => {
      const key = ComplexValue.compile(node.args[0]!, scope.http!.registry, placeOf(node));
      const arg = node.args[1]!;
      if (!arg.startsWith("zone=")) throw valueError(node, `invalid parameter "${arg}"`);
      const [name, size] = parseZoneParameter(node, arg);
      if (name === "") throw valueError(node, `"${node.name}" must have "zone" parameter`);
      const zone = addSharedZone(scope, node, name, size, "limit_conn");
      if (zone.key !== undefined) {
        throw valueError(node, `${node.name} "${name}" is already bound to key "${zone.key.source}"`);
      }
      zone.key = key;
    },
  },
  {
    name: "limit_conn",
    contexts: HTTP_CONTEXTS,
    args: [2],
    handle: (scope, node) => {
      const zone = addSharedZone(scope, node, node.args[0]!, 0, "limit_conn");
      const rules = (scope.loc!.limitConns ??= []) as LimitConnRule[];
      if (rules.some((rule) => rule.zone === zone)) throw directiveError(node, "is duplicate");
      const conn = parseAtoi(node.args[1]!) ?? 0;
      if (conn <= 0) throw valueError(node, `invalid number of connections "${node.args[1]!}"`);
      if (conn > 65535) throw valueError(node, "connection limit must be less 65536");
      rules.push({ zone, conn });
    },
  },
  logLevelSlot("limit_conn_log_level", "limitConnLogLevel"),
  statusSlot("limit_conn_status", "limitConnStatus"),
  dryRunSlot("limit_conn_dry_run", "limitConnDryRun"),
];

export const LIMIT_CONN_MODULE: ConfModule<LimitConnLocConf> = {
  name: "ngx_http_limit_conn_module",
  directives: LIMIT_CONN_DIRECTIVES,
  createLoc: () => ({ limitConns: [], limitConnLogLevel: "error", limitConnStatus: 503, limitConnDryRun: false }),
};
