/**
 * Running a rewrite script for one request, after ngx_http_script.c: codes in
 * order; a matching `rewrite` changes $uri and $args (or ends in a redirect);
 * `return` and the stopping flags end the script; an `if` whose condition
 * holds puts its own level in force and runs its body.
 */

import { accessSync, constants, statSync } from "node:fs";
import type { HttpRequest } from "./request.js";
import type { ErrorLog } from "../log/error-log.js";
import type { Condition, NamedCaptures, RewriteCode } from "../config/rewrite/script.js";

/** How a script ended: it ran through (or stopped with last/break), or it answers the request. */
export type ScriptOutcome =
  | { readonly kind: "next" }
  /** A status for the special-response path (error pages, redirects with r.outLocation). */
  | {
      readonly kind: "status";
      readonly status: number;
      readonly discardsBody?: boolean;
      /** Headers the answer carries (auth_basic's WWW-Authenticate). */
      readonly headers?: ReadonlyArray<readonly [string, string]>;
    }
  /** `return code text` (and `return 200` with no text): a response with this body. */
  | { readonly kind: "respond"; readonly status: number; readonly body: string };

const NEXT: ScriptOutcome = { kind: "next" };

interface Run {
  readonly r: HttpRequest;
  readonly log: (r: HttpRequest) => ErrorLog;
  stopped: boolean;
}

export function runScript(
  codes: readonly RewriteCode[],
  r: HttpRequest,
  log: (r: HttpRequest) => ErrorLog,
): ScriptOutcome {
  return runCodes(codes, { r, log, stopped: false });
}

function runCodes(codes: readonly RewriteCode[], run: Run): ScriptOutcome {
  const r = run.r;
  for (const code of codes) {
    switch (code.kind) {
      case "return": {
        // nginx's $status reads the status being answered while the text is made.
        if (code.text !== undefined) r.status = r.errStatus || code.status;
        const text = code.text?.evaluate(r);
        if (code.status >= 400 && text === undefined) return { kind: "status", status: code.status };
        if (
          code.status === 301 ||
          code.status === 302 ||
          code.status === 303 ||
          code.status === 307 ||
          code.status === 308
        ) {
          r.outLocation = text ?? "";
          // Through ngx_http_send_response(), which discards the body (answering Expect) first.
          return { kind: "status", status: code.status, discardsBody: true };
        }
        return { kind: "respond", status: code.status, body: text ?? "" };
      }
      case "rewrite": {
        const outcome = rewrite(code, run);
        if (outcome !== NEXT || run.stopped) return outcome;
        break;
      }
      case "break":
        r.uriChanged = false;
        run.stopped = true;
        return NEXT;
      case "set": {
        if (code.setter) {
          const refused = code.setter(r, code.value.evaluate(r));
          if (refused !== undefined) run.log(r).log("error", refused, r.logContext());
        } else r.variableCache[code.index] = code.value.evaluate(r);
        break;
      }
      case "if": {
        if (!test(code.condition, run)) break;
        if (code.location) r.location = code.location;
        const outcome = runCodes(code.body, run);
        if (outcome !== NEXT || run.stopped) return outcome;
        break;
      }
    }
  }
  return NEXT;
}

function rewrite(code: Extract<RewriteCode, { kind: "rewrite" }>, run: Run): ScriptOutcome {
  const r = run.r;
  const logging = r.loc.rewriteLog;
  const match = code.regex.exec(r.uri);
  if (!match) {
    if (logging) notice(run, `"${code.source}" does not match "${r.uri}"`);
    return NEXT;
  }
  if (logging) notice(run, `"${code.source}" matches "${r.uri}"`);
  setCaptures(r, match, code.named);
  if (code.redirect !== undefined) {
    let url = code.uri.evaluate(r);
    if (code.addArgs && r.args !== "") url += (url.includes("?") ? "&" : "?") + r.args;
    if (logging) notice(run, `rewritten redirect: "${url}"`);
    r.outLocation = url;
    run.stopped = true;
    return { kind: "status", status: code.redirect };
  }
  const uri = code.uri.evaluate(r);
  if (code.args !== undefined) {
    let args = code.args.evaluate(r);
    if (code.addArgs && r.args !== "") args += "&" + r.args;
    r.args = args;
  } else if (!code.addArgs) r.args = "";
  if (logging) notice(run, `rewritten data: "${uri}", args: "${r.args}"`);
  r.uri = uri;
  if (uri === "") {
    run.log(r).log("error", "the rewritten URI has a zero length", r.logContext());
    return { kind: "status", status: 500 };
  }
  r.internal = true;
  r.validUnparsedUri = false;
  if (code.breakCycle) {
    r.validLocation = false;
    r.uriChanged = false;
  } else r.uriChanged = true;
  if (code.stop) run.stopped = true;
  return NEXT;
}

function test(condition: Condition, run: Run): boolean {
  const r = run.r;
  switch (condition.kind) {
    case "variable": {
      const value = condition.value.evaluate(r);
      return value !== "" && value !== "0";
    }
    case "equal":
      return (condition.left.evaluate(r) === condition.right.evaluate(r)) !== condition.negate;
    case "regex": {
      const subject = condition.left.evaluate(r);
      const match = condition.regex.exec(subject);
      const source = condition.source;
      if (r.loc.rewriteLog)
        notice(run, match ? `"${source}" matches "${subject}"` : `"${source}" does not match "${subject}"`);
      if (match) setCaptures(r, match, condition.named);
      return Boolean(match) !== condition.negate;
    }
    case "file":
      return fileTest(condition.test, condition.path.evaluate(r)) !== condition.negate;
  }
}

/** `-f`, `-d`, `-e`, `-x` (ngx_http_script_file_code, through stat()). */
function fileTest(kind: "f" | "d" | "e" | "x", path: string): boolean {
  try {
    const stats = statSync(path);
    if (kind === "f") return stats.isFile();
    if (kind === "d") return stats.isDirectory();
    if (kind === "e") return true;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** $1…$9 and the named captures' variables, as ngx_http_regex_exec() sets them. */
function setCaptures(r: HttpRequest, match: RegExpExecArray, named: NamedCaptures): void {
  r.captures = Array.from(match, (group) => group ?? "");
  for (const [group, index] of named) r.variableCache[index] = match.groups?.[group] ?? "";
}

function notice(run: Run, message: string): void {
  run.log(run.r).log("notice", message, run.r.logContext());
}
