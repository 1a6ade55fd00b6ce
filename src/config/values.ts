/**
 * nginx's value slots (ngx_conf_set_flag_slot, ngx_parse_time, ngx_parse_size …):
 * the same accepted forms and the same refusals, so a value nginx refuses is
 * refused here with its message.
 */

import { ConfigError, withPlace } from "../core/errors.js";
import type { BuildScope } from "./build-scope.js";
import type { DirectiveNode } from "./parser.js";
import { HTTP_CONTEXTS, placeOf, type Context, type DirectiveSpec } from "./table.js";
import type { LocConf } from "./model.js";
import { parseOffsetValue, parseSizeValue } from "../core/sizes.js";

/** `"name" directive MESSAGE in FILE:LINE` — how nginx reports a handler's refusal. */
export function directiveError(node: DirectiveNode, message: string): ConfigError {
  return new ConfigError("invalid-value", `"${node.name}" directive ${message}`, placeOf(node));
}

/** ngx_conf_log_error(NGX_LOG_WARN, …): reading goes on; the warning is printed at -t and logged at start. */
export function configWarning(scope: BuildScope, node: DirectiveNode, message: string): void {
  (scope.main.warnings ??= []).push(withPlace(message, placeOf(node)));
}

/** A refusal that names the value and not the directive (ngx_conf_log_error in a handler). */
export function valueError(node: DirectiveNode, message: string): ConfigError {
  return new ConfigError("invalid-value", message, placeOf(node));
}

export function parseFlag(node: DirectiveNode, value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === "on") return true;
  if (lower === "off") return false;
  throw valueError(node, `invalid value "${value}" in "${node.name}" directive, it must be "on" or "off"`);
}

const TIME_UNITS: Record<string, number> = {
  y: 365 * 24 * 3600 * 1000,
  M: 30 * 24 * 3600 * 1000,
  w: 7 * 24 * 3600 * 1000,
  d: 24 * 3600 * 1000,
  h: 3600 * 1000,
  m: 60 * 1000,
  s: 1000,
  ms: 1,
};

/** ngx_parse_time(): "30", "30s", "1m30s", "500ms"; bare numbers are seconds. */
export function parseTimeMs(node: DirectiveNode, value: string): number {
  const re = /(\d+)\s*(ms|y|M|w|d|h|m|s)?\s*/gy;
  let total = 0;
  let seen = false;
  let match: RegExpExecArray | null;
  while ((match = re.exec(value)) !== null && match[0] !== "") {
    total += Number(match[1]) * TIME_UNITS[match[2] ?? "s"]!;
    seen = true;
    if (re.lastIndex === value.length) break;
  }
  if (!seen || re.lastIndex !== value.length || !Number.isSafeInteger(total)) {
    throw directiveError(node, "invalid value");
  }
  return total;
}

/** ngx_conf_set_size_slot(): "512", "8k", "1m" (core/sizes.ts). */
export function parseSize(node: DirectiveNode, value: string): number {
  const size = parseSizeValue(value);
  if (size === undefined) throw directiveError(node, "invalid value");
  return size;
}

/** ngx_conf_set_off_slot() (client_max_body_size, directio): g too. */
export function parseOffset(node: DirectiveNode, value: string): number {
  const size = parseOffsetValue(value);
  if (size === undefined) throw directiveError(node, "invalid value");
  return size;
}

/** ngx_conf_set_num_slot(). */
export function parseNumber(node: DirectiveNode, value: string): number {
  if (!/^\d+$/.test(value)) throw directiveError(node, "invalid number");
  return Number(value);
}

/** Record a value once per level; nginx refuses a second one as "is duplicate". */
export function setOnce<T extends object, K extends keyof T>(
  target: Partial<T>,
  key: K,
  value: T[K],
  node: DirectiveNode,
): void {
  if (target[key] !== undefined) throw directiveError(node, "is duplicate");
  target[key] = value;
}

/** An on|off directive of the http levels (or of `contexts`), set once per level into a boolean of LocConf. */
export function locFlag(
  name: string,
  key: { [K in keyof LocConf]: LocConf[K] extends boolean ? K : never }[keyof LocConf],
  contexts: readonly Context[] = HTTP_CONTEXTS,
): DirectiveSpec {
  return {
    name,
    contexts,
    args: "flag",
    handle: (scope, node) => setOnce(scope.loc!, key, parseFlag(node, node.args[0]!), node),
  };
}
