/**
 * The value slots limit_conn and limit_req share: their log level
 * (ngx_conf_set_enum_slot over info|notice|warn|error), their status
 * (ngx_conf_set_num_slot bounded to 400…599) and their `…_dry_run` flag.
 */

import type { LocConf } from "../model.js";
import { HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { directiveError, parseFlag, setOnce, valueError } from "../values.js";

/** The levels limit_conn_log_level and limit_req_log_level accept. */
export type LimitLogLevel = "info" | "notice" | "warn" | "error";

const LEVELS: readonly LimitLogLevel[] = ["info", "notice", "warn", "error"];

type Key<T> = { [K in keyof LocConf]: LocConf[K] extends T ? K : never }[keyof LocConf];

/** `limit_*_log_level info|notice|warn|error;` */
export function logLevelSlot(name: string, key: Key<LimitLogLevel>): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      const value = node.args[0]!;
      if (scope.loc![key] !== undefined) throw directiveError(node, "is duplicate");
      const level = LEVELS.find((candidate) => candidate === value);
      if (level === undefined) throw valueError(node, `invalid value "${value}"`);
      (scope.loc as Record<string, unknown>)[key] = level;
    },
  };
}

/** `limit_*_status CODE;` between 400 and 599. */
export function statusSlot(name: string, key: Key<number>): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      if (scope.loc![key] !== undefined) throw directiveError(node, "is duplicate");
      const status = parseAtoi(node.args[0]!);
      if (status === undefined) throw directiveError(node, "invalid number");
      if (status < 400 || status > 599) throw valueError(node, "value must be between 400 and 599");
      (scope.loc as Record<string, unknown>)[key] = status;
    },
  };
}

/** `limit_*_dry_run on|off;` */
export function dryRunSlot(name: string, key: Key<boolean>): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: "flag",
    handle: (scope, node) => setOnce(scope.loc!, key, parseFlag(node, node.args[0]!), node),
  };
}

/** ngx_atoi(): digits only; undefined where nginx returns NGX_ERROR (an overflow too). */
export function parseAtoi(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}
