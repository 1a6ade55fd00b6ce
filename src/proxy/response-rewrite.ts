/**
 * What nginx changes in an upstream's response head before its header filter
 * writes it: Location and Refresh through proxy_redirect
 * (ngx_http_proxy_rewrite_redirect; `default` is proxy_pass's URL → the
 * location's name), a rewritten Location that starts with "/" made absolute
 * and written in the filter's own place, the status after an error_page
 * (r->err_status), expires and charset (response-filters.ts), and the
 * add_header lines.
 */

import type { LocationConf, ProxyRedirect } from "../config/model.js";
import { defaultRedirect } from "../config/modules/proxy-response.js";
import type { HttpRequest } from "../http/request.js";
import { absoluteLocation } from "../http/own-response.js";
import { addHeaderLines } from "../http/add-header.js";
import { statusLine } from "../http/status.js";
import type { ResponseHead } from "./response-head.js";
import { filterUpstreamHead } from "./response-filters.js";
import { isHeader } from "../core/header-name.js";

export interface HeadChanges {
  /** The head with Location/Refresh rewritten (a placed Location removed from the list). */
  readonly head: ResponseHead;
  /** A rewritten relative Location, made absolute, for the filter's own place. */
  readonly placedLocation: string | undefined;
  /** add_header lines, after the upstream's headers. */
  readonly added: Array<[string, string]>;
}

export function adjustResponseHead(r: HttpRequest, location: LocationConf, upstream: ResponseHead): HeadChanges {
  const loc = r.loc;
  const redirects = redirectsFor(location);
  let placedLocation: string | undefined;
  let headers = upstream.headers;
  if (
    redirects.length > 0 &&
    upstream.headers.some(([name]) => isHeader(name, "location") || isHeader(name, "refresh"))
  ) {
    headers = [];
    for (const header of upstream.headers) {
      if (isHeader(header[0], "location") && header[1] !== "") {
        const rewritten = rewriteRedirect(r, redirects, header[1], 0);
        if (
          rewritten !== undefined &&
          rewritten.startsWith("/") &&
          loc.absoluteRedirect &&
          placedLocation === undefined
        ) {
          placedLocation = absoluteLocation(r, rewritten);
          continue;
        }
        headers.push(rewritten === undefined ? header : [header[0], rewritten]);
      } else if (isHeader(header[0], "refresh")) {
        const at = header[1].toLowerCase().indexOf("url=");
        const rewritten = at === -1 ? undefined : rewriteRedirect(r, redirects, header[1], at + 4);
        headers.push(rewritten === undefined ? header : [header[0], rewritten]);
      } else headers.push(header);
    }
  }
  const status = r.errStatus || upstream.status;
  const statusText = r.errStatus ? statusLine(r.errStatus) : upstream.statusText;
  const filtered = filterUpstreamHead(r, status, headers);
  return {
    head: { ...upstream, headers: filtered.headers, status, statusText },
    placedLocation,
    added: [...filtered.added, ...addHeaderLines(r, status)],
  };
}

const NO_REDIRECTS: readonly ProxyRedirect[] = [];
/** nginx's default proxy_redirect of a location, made once per location. */
const defaults = new WeakMap<LocationConf, readonly ProxyRedirect[]>();

/** The proxy_redirect lines in force; nginx's default when none was written at any level. */
function redirectsFor(location: LocationConf): readonly ProxyRedirect[] {
  const configured = location.loc.proxyRedirects;
  if (configured === "off") return NO_REDIRECTS;
  if (configured !== undefined) return configured;
  if (!location.proxyPass) return NO_REDIRECTS;
  let redirects = defaults.get(location);
  if (!redirects) {
    redirects = [defaultRedirect(location)];
    defaults.set(location, redirects);
  }
  return redirects;
}

/** The first line that matches, from `prefix` on; undefined when none does. */
function rewriteRedirect(
  r: HttpRequest,
  redirects: readonly ProxyRedirect[],
  value: string,
  prefix: number,
): string | undefined {
  const rest = value.slice(prefix);
  for (const redirect of redirects) {
    switch (redirect.kind) {
      case "default":
        if (rest.startsWith(redirect.pattern))
          return value.slice(0, prefix) + redirect.replacement + rest.slice(redirect.pattern.length);
        break;
      case "text": {
        const pattern = redirect.pattern.evaluate(r);
        if (rest.startsWith(pattern))
          return value.slice(0, prefix) + redirect.replacement.evaluate(r) + rest.slice(pattern.length);
        break;
      }
      case "regex": {
        const match = redirect.regex.exec(rest);
        if (!match) break;
        r.captures = Array.from(match, (group) => group ?? "");
        return value.slice(0, prefix) + redirect.replacement.evaluate(r);
      }
    }
  }
  return undefined;
}
