/**
 * wsgate's WebSocket features inside a tunnel (off by default, so that an
 * nginx configuration behaves as under nginx), at the http, server and
 * location levels, inherited as nginx inherits (a level that sets one
 * replaces the outer level's):
 *
 *   wsgate_ping INTERVAL [TIMEOUT] | off;   keep-alive pings both ways, a side
 *                                           that answers nothing is dead
 *   wsgate_max_message SIZE;                a larger message closes with 1009
 *   wsgate_message_rate RATE [burst=N];     messages from the client, counted
 *                                           as limit_req counts requests
 *
 * The rate is read as ngx_http_limit_req_module reads `rate=` and `burst=`:
 * "5r/s", "300r/m" or a bare number of requests a second, kept as nginx keeps
 * it (requests a second × 1000), the burst × 1000, with nginx's refusals.
 */

import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { directiveError, parseSize, parseTimeMs, setOnce, valueError } from "../values.js";

export interface WsPing {
  /** Nothing heard from a side for this long: it gets a ping. */
  readonly intervalMs: number;
  /** Nothing heard for this long after the ping: the side is dead. */
  readonly timeoutMs: number;
}

export interface WsMessageRate {
  /** Messages a second × 1000 (nginx's ctx->rate). */
  readonly rate: number;
  /** The burst × 1000 (nginx's limit->burst). */
  readonly burst: number;
}

export interface WebSocketLocConf {
  /** wsgate_ping; false: off. */
  wsgatePing: WsPing | false;
  /** wsgate_max_message: the largest message (payload bytes, all fragments); 0: no limit. */
  wsgateMaxMessage: number;
  /** wsgate_message_rate; false: no limit. */
  wsgateMessageRate: WsMessageRate | false;
}

const WEBSOCKET_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "wsgate_ping",
    contexts: HTTP_CONTEXTS,
    args: [1, 2],
    handle: (scope, node) => setOnce(scope.loc!, "wsgatePing", parsePing(node), node),
  },
  {
    name: "wsgate_max_message",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, "wsgateMaxMessage", parseSize(node, node.args[0]!), node),
  },
  {
    name: "wsgate_message_rate",
    contexts: HTTP_CONTEXTS,
    args: [1, 2],
    handle: (scope, node) => setOnce(scope.loc!, "wsgateMessageRate", parseMessageRate(node), node),
  },
];

export const WEBSOCKET_MODULE: ConfModule<WebSocketLocConf> = {
  name: "wsgate_websocket",
  directives: WEBSOCKET_DIRECTIVES,
  createLoc: () => ({ wsgatePing: false, wsgateMaxMessage: 0, wsgateMessageRate: false }),
};

/** `off`, or an interval and a timeout (the interval when not given), neither zero. */
function parsePing(node: DirectiveNode): WsPing | false {
  const [interval, timeout] = node.args as [string, string | undefined];
  if (interval === "off") {
    if (timeout !== undefined) throw valueError(node, `invalid parameter "${timeout}"`);
    return false;
  }
  const intervalMs = parseTimeMs(node, interval);
  const timeoutMs = timeout === undefined ? intervalMs : parseTimeMs(node, timeout);
  if (intervalMs === 0 || timeoutMs === 0) throw directiveError(node, "invalid value");
  return { intervalMs, timeoutMs };
}

/** RATE as limit_req_zone's rate= (without the "rate=" prefix), then burst= as limit_req's. */
function parseMessageRate(node: DirectiveNode): WsMessageRate {
  const [rateArg, burstArg] = node.args as [string, string | undefined];
  let digits = rateArg;
  let scale = 1;
  if (rateArg.endsWith("r/s")) digits = rateArg.slice(0, -3);
  else if (rateArg.endsWith("r/m")) {
    digits = rateArg.slice(0, -3);
    scale = 60;
  }
  const rate = ngxAtoi(digits);
  if (rate <= 0) throw valueError(node, `invalid rate "${rateArg}"`);
  let burst = 0;
  if (burstArg !== undefined) {
    if (!burstArg.startsWith("burst=")) throw valueError(node, `invalid parameter "${burstArg}"`);
    burst = ngxAtoi(burstArg.slice(6));
    if (burst <= 0) throw valueError(node, `invalid burst value "${burstArg}"`);
  }
  return { rate: Math.trunc((rate * 1000) / scale), burst: burst * 1000 };
}

/** ngx_atoi(): decimal digits only; -1 (NGX_ERROR) for anything else, the empty string included. */
function ngxAtoi(text: string): number {
  if (!/^\d+$/.test(text)) return -1;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : -1;
}
