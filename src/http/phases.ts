/**
 * nginx's phases up to the content handler, for one request (after
 * ngx_http_core_module.c): server rewrite → find config → rewrite →
 * post rewrite (a changed URI searches the location again, at most 10
 * times) — and the two ways of starting over, an internal redirect (to a
 * URI: from the server rewrite phase) and a named location (from the rewrite
 * phase).
 */

import { findLocation } from "./find-location.js";
import type { HttpRequest } from "./request.js";
import type { LocationConf } from "../config/model.js";
import type { ErrorLog } from "../log/error-log.js";
import { runScript, type ScriptOutcome } from "./rewrite-script.js";
import { recordMatch } from "../vars/captures.js";
import { accessPhases, type AccessResult } from "./access-phase.js";
import { runRealip } from "./realip.js";
import type { Subrequest } from "./subrequest.js";

/** What the phases ask of the request flow. */
export interface PhaseHooks {
  errorLogFor(r: HttpRequest): ErrorLog;
  /** Checks nginx makes once a location is found (client_max_body_size); a status ends the request. */
  afterFindConfig(r: HttpRequest): number | undefined;
  /** Subrequests, for the checks of the access phase that make one (auth_request). */
  readonly subrequest: Subrequest;
}

/**
 * "content": run the location's content handler; "wait": a check of the access phases answers later, with
 * the outcome; otherwise the script or a check answered.
 */
export type PhaseOutcome =
  | { readonly kind: "content" }
  | { readonly kind: "wait"; readonly until: Promise<PhaseOutcome> }
  | Exclude<ScriptOutcome, { kind: "next" }>;

const CONTENT: PhaseOutcome = { kind: "content" };

/** From the server rewrite phase: a new request, or an internal redirect. */
export function runPhases(r: HttpRequest, hooks: PhaseHooks): PhaseOutcome {
  const log = (req: HttpRequest): ErrorLog => hooks.errorLogFor(req);
  r.location = undefined;
  const script = r.server.rewrite;
  if (script) {
    const outcome = runScript(script, r, log);
    if (outcome.kind !== "next") return outcome;
  }
  return fromFindConfig(r, hooks);
}

/** From the rewrite phase, with r.location already the named location. */
export function runNamedLocation(r: HttpRequest, hooks: PhaseHooks): PhaseOutcome {
  const outcome = locationRewrite(r, hooks);
  return outcome ?? fromFindConfig(r, hooks, true);
}

function fromFindConfig(r: HttpRequest, hooks: PhaseHooks, skipFirstFind = false): PhaseOutcome {
  for (let first = true; ; first = false) {
    if (!(skipFirstFind && first)) {
      r.uriChanged = false;
      const match = findLocation(r.server.locations, r.uri);
      r.location = limitedLocation(match?.location, r.method);
      if (match?.match) recordMatch(r, match.match);
      // ngx_http_core_find_config_phase(): an `internal` location answers 404 to a request from outside.
      if (!r.internal && r.loc.internal) return { kind: "status", status: 404 };
      const status = hooks.afterFindConfig(r);
      if (status !== undefined) return { kind: "status", status };
      if (match?.autoRedirect) {
        // ngx_http_core_find_config_phase(): 301 to the location's name with the arguments; made absolute later.
        r.outLocation = match.location.path + (r.args !== "" ? "?" + r.args : "");
        return { kind: "status", status: 301 };
      }
      const outcome = locationRewrite(r, hooks);
      if (outcome) return outcome;
    }
    // Post rewrite: a URI changed by `rewrite` (without break) is looked up again.
    if (!r.uriChanged) return accessPhase(r, hooks);
    if (--r.uriChanges === 0) {
      hooks
        .errorLogFor(r)
        .log("error", `rewrite or internal redirection cycle while processing "${r.uri}"`, r.logContext());
      return { kind: "status", status: 500 };
    }
  }
}

/**
 * The preaccess phase (realip with the location's settings, then limit_req and limit_conn), the access
 * phase (allow/deny, auth_basic … under `satisfy`) and the post-access phase (access-phase.ts).
 */
function accessPhase(r: HttpRequest, hooks: PhaseHooks): PhaseOutcome {
  // ngx_http_core_access_phase() (and limit_req, limit_conn, realip): a subrequest is let through.
  if (r.parent !== undefined) return CONTENT;
  runRealip(r, r.loc);
  const result = accessPhases(r, { log: hooks.errorLogFor(r), subrequest: hooks.subrequest });
  if (result instanceof Promise) return { kind: "wait", until: result.then(accessOutcome) };
  return accessOutcome(result);
}

function accessOutcome(refusal: AccessResult): PhaseOutcome {
  if (refusal === undefined) return CONTENT;
  return { kind: "status", status: refusal.status, ...(refusal.headers ? { headers: refusal.headers } : {}) };
}

/** The location's script; the server's own level (no location matched) has no rewrite phase. */
function locationRewrite(r: HttpRequest, hooks: PhaseHooks): PhaseOutcome | undefined {
  const script = r.location?.rewrite;
  if (!script) return undefined;
  const outcome = runScript(script, r, (req) => hooks.errorLogFor(req));
  return outcome.kind === "next" ? undefined : outcome;
}

/** ngx_http_internal_redirect(): a new URI, searched from the server rewrite phase; undefined = over the limit. */
export function internalRedirect(r: HttpRequest, uri: string, args: string, hooks: PhaseHooks): PhaseOutcome {
  if (--r.uriChanges === 0) {
    hooks
      .errorLogFor(r)
      .log("error", `rewrite or internal redirection cycle while internally redirecting to "${uri}"`, r.logContext());
    return { kind: "status", status: 500 };
  }
  r.uri = uri;
  r.args = args;
  r.internal = true;
  r.validUnparsedUri = false;
  r.validLocation = true;
  return runPhases(r, hooks);
}

/** ngx_http_named_location(). */
export function namedLocation(r: HttpRequest, name: string, hooks: PhaseHooks): PhaseOutcome {
  const location = r.server.locations.find((candidate) => candidate.modifier === "@" && candidate.path === name);
  if (!location) {
    hooks.errorLogFor(r).log("error", `could not find named location "${name}"`, r.logContext());
    return { kind: "status", status: 500 };
  }
  if (--r.uriChanges === 0) {
    hooks
      .errorLogFor(r)
      .log("error", `rewrite or internal redirection cycle while redirect to named location "${name}"`, r.logContext());
    return { kind: "status", status: 500 };
  }
  r.location = limitedLocation(location, r.method);
  r.validLocation = true;
  return runNamedLocation(r, hooks);
}

/** ngx_http_update_location_config(): a method the location's limit_except does not list is served by its block. */
function limitedLocation(location: LocationConf | undefined, method: string): LocationConf | undefined {
  const limit = location?.limitExcept;
  return limit && !limit.allowed.has(method) ? limit.location : location;
}
