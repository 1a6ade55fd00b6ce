/**
 * wsgate's own `wsgate_health_check` inside `upstream` (nginx's free edition
 * has no active checks):
 *
 *     wsgate_health_check [interval=5s] [passes=2] [fails=3] [uri=/]
 *                         [type=http|websocket] [timeout=2s];
 *
 * Every `interval` each peer gets a GET of `uri` (a 2xx or 3xx passes) or,
 * with type=websocket, a WebSocket handshake (101 passes); no answer within
 * `timeout` fails. `fails` failed checks in a row mark the peer down (no new
 * connections), `passes` good ones in a row bring it back.
 */

import type { SourcePlace } from "../../core/errors.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, parseTimeMs, valueError } from "../values.js";

/** `wsgate_health_check [interval=5s] [passes=2] [fails=3] [uri=/] [type=http|websocket] [timeout=…]`. */
export interface HealthCheckConf {
  readonly intervalMs: number;
  readonly passes: number;
  readonly fails: number;
  readonly uri: string;
  readonly type: "http" | "websocket";
  readonly timeoutMs: number;
  readonly place: SourcePlace;
}

export const HEALTH_CHECK_DEFAULTS = {
  intervalMs: 5000,
  passes: 2,
  fails: 3,
  uri: "/",
  type: "http",
  timeoutMs: 2000,
} as const;

export const HEALTH_CHECK_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "wsgate_health_check",
    contexts: ["upstream"],
    args: "any",
    handle: (scope, node) => {
      const upstream = scope.upstream!;
      if (upstream.healthCheck) throw directiveError(node, "is duplicate");
      upstream.healthCheck = parseHealthCheck(node);
    },
  },
];

function parseHealthCheck(node: DirectiveNode): HealthCheckConf {
  const conf: { -readonly [K in keyof HealthCheckConf]: HealthCheckConf[K] } = {
    ...HEALTH_CHECK_DEFAULTS,
    place: placeOf(node),
  };
  for (const parameter of node.args) {
    const eq = parameter.indexOf("=");
    const key = eq === -1 ? parameter : parameter.slice(0, eq);
    const value = parameter.slice(eq + 1);
    const invalid = (): Error => valueError(node, `invalid parameter "${parameter}"`);
    if (eq === -1 || value === "") throw invalid();
    if (key === "interval" || key === "timeout") {
      const ms = parseTimeMs(node, value);
      if (ms === 0) throw invalid();
      if (key === "interval") conf.intervalMs = ms;
      else conf.timeoutMs = ms;
    } else if (key === "passes" || key === "fails") {
      if (!/^\d+$/.test(value) || Number(value) === 0) throw invalid();
      conf[key] = Number(value);
    } else if (key === "uri") {
      if (!value.startsWith("/") || /[\s\x00-\x1f\x7f]/.test(value)) throw invalid();
      conf.uri = value;
    } else if (key === "type") {
      if (value !== "http" && value !== "websocket") throw invalid();
      conf.type = value;
    } else throw invalid();
  }
  return conf;
}
