/**
 * error_page (ngx_http_special_response.c, ngx_http_send_error_page): a
 * status wsgate would answer itself goes instead to a URI (an internal
 * redirect, as GET unless HEAD), a named location, or a URL (a redirect,
 * 302 unless "=" names another 3xx). "=code" sets the status the final
 * response carries; a bare "=" keeps that response's own.
 */

import type { ErrorPage } from "../config/model.js";
import { internalRedirect, namedLocation, type PhaseHooks, type PhaseOutcome } from "./phases.js";
import type { HttpRequest } from "./request.js";
import { enterNamedLocation } from "./keep-alive.js";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function errorPageFor(r: HttpRequest, status: number): ErrorPage | undefined {
  const pages = r.loc.errorPages;
  if (pages.length === 0) return undefined;
  if (!r.loc.recursiveErrorPages) r.errorPage = true;
  return pages.find((page) => page.status === status);
}

export function sendErrorPage(r: HttpRequest, page: ErrorPage, hooks: PhaseHooks): PhaseOutcome {
  if (page.overwrite >= 0) r.errStatus = page.overwrite;
  const uri = page.uri.evaluate(r);
  if (uri.startsWith("/")) {
    const question = uri.indexOf("?");
    const path = question === -1 ? uri : uri.slice(0, question);
    const args = question === -1 ? "" : uri.slice(question + 1);
    if (r.method !== "HEAD") r.methodOverride = "GET";
    return internalRedirect(r, path, args, hooks);
  }
  if (uri.startsWith("@")) {
    enterNamedLocation(r, uri);
    return namedLocation(r, uri, hooks);
  }
  if (!REDIRECTS.has(page.overwrite)) r.errStatus = 302;
  r.outLocation = uri;
  return { kind: "status", status: r.errStatus };
}
