/**
 * wsgate_origin: a WebSocket handshake whose Origin is not on the location's
 * list is refused with 403 before anything else is done for it — the
 * upstream is never contacted. Browsers send Origin with every WebSocket
 * handshake and a page cannot forge it, so this stops cross-site WebSocket
 * hijacking (a foreign page opening a tunnel with the user's cookies); a
 * handshake without Origin does not come from a browser page and passes, as
 * do requests that are not WebSocket handshakes.
 *
 * It runs first in the preaccess phase (phase-checks.ts): under `satisfy any`
 * an allow rule must not lift it, and a refused handshake should not spend
 * a limit_req budget.
 */

import type { OriginRule } from "../config/modules/wsgate-origin.js";
import type { AuthAnswer } from "./auth-basic.js";
import type { HttpRequest } from "./request.js";
import type { ErrorLog } from "../log/error-log.js";

const DECLINED: AuthAnswer = { kind: "declined" };
const FORBIDDEN: AuthAnswer = { kind: "status", status: 403 };

export function originCheck(r: HttpRequest, log: ErrorLog): AuthAnswer {
  const rules = r.loc.wsgateOrigin;
  if (rules === undefined || rules.length === 0 || !isWebSocketHandshake(r)) return DECLINED;
  const origin = headerValue(r, "origin");
  if (origin === undefined || originAllowed(rules, origin)) return DECLINED;
  log.log("error", `WebSocket origin "${origin}" is not allowed by wsgate_origin`, r.logContext());
  return FORBIDDEN;
}

/** The request asks for a WebSocket upgrade (an HTTP/2 extended CONNECT arrives as one too). */
function isWebSocketHandshake(r: HttpRequest): boolean {
  const upgrade = headerValue(r, "upgrade");
  return upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

function headerValue(r: HttpRequest, lowerName: string): string | undefined {
  for (const [name, value] of r.head.headers) if (name.toLowerCase() === lowerName) return value;
  return undefined;
}

/** Whether `origin` (as the browser serialized it: scheme://host[:port], or "null") matches one rule. */
export function originAllowed(rules: readonly OriginRule[], origin: string): boolean {
  const lower = origin.trim().toLowerCase();
  const split = /^([a-z][a-z0-9+.-]*):\/\/(.+)$/.exec(lower);
  const scheme = split?.[1];
  const hostPort = split?.[2] ?? "";
  const host = hostPort.replace(/:[0-9]+$/, "");
  for (const rule of rules) {
    switch (rule.kind) {
      case "exact":
        if (lower === rule.origin) return true;
        break;
      case "host":
        if (scheme !== undefined && (hostPort === rule.host || host === rule.host)) return true;
        break;
      case "suffix":
        if (scheme === undefined || (rule.scheme !== undefined && scheme !== rule.scheme)) break;
        if (suffixMatches(rule.suffix.includes(":") ? hostPort : host, rule.suffix)) return true;
        break;
      case "regex":
        if (rule.regex.test(origin)) return true;
        break;
    }
  }
  return false;
}

/** `*.example.com` as server_name reads it: any name under the domain, not the domain itself. */
function suffixMatches(name: string, suffix: string): boolean {
  return name.endsWith(suffix) && name.length > suffix.length;
}
