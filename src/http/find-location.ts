/**
 * Choosing the location for a URI, as ngx_http_core_find_location(): an
 * exact `=` match ends the search; else the longest prefix wins, its nested
 * locations are searched the same way, and unless it is `^~` the regexes of
 * each level are tried in the order written, the first match winning.
 *
 * nginx's auto-redirect (ngx_http_core_find_static_location()): where no
 * location of a level is named exactly the URI, a prefix or `=` location
 * named the URI plus "/" whose handler is proxy_pass ends the search too,
 * before any regex: the request gets a 301 to that name.
 */

import type { LocationConf } from "../config/model.js";

export interface LocationMatch {
  readonly location: LocationConf;
  /** The regex location's match, for $1 … $9 and named captures. */
  readonly match?: RegExpExecArray;
  /** nginx's auto_redirect: answer 301 to the location's name (the URI plus "/"). */
  readonly autoRedirect?: true;
}

type Outcome =
  | { kind: "final"; match: LocationMatch }
  | { kind: "redirect"; match: LocationMatch }
  | { kind: "prefix"; match: LocationMatch }
  | { kind: "none" };

export function findLocation(locations: readonly LocationConf[], uri: string): LocationMatch | undefined {
  const outcome = search(locations, uri);
  return outcome.kind === "none" ? undefined : outcome.match;
}

function search(locations: readonly LocationConf[], uri: string): Outcome {
  let outcome = staticMatch(locations, uri);
  // An exact `=` match ends the search: no nested locations, no regexes; so does an auto-redirect.
  if (outcome.kind === "final" || outcome.kind === "redirect") return outcome;
  let noRegex = false;
  if (outcome.kind === "prefix") {
    const found = outcome.match.location;
    noRegex = found.modifier === "^~";
    const nested = search(found.locations, uri);
    if (nested.kind === "final" || nested.kind === "redirect") return nested;
    if (nested.kind === "prefix") outcome = nested;
  }
  if (!noRegex) {
    for (const location of locations) {
      if (!location.regex) continue;
      const match = location.regex.exec(uri);
      if (!match) continue;
      const nested = search(location.locations, uri);
      return { kind: "final", match: nested.kind === "none" ? { location, match } : nested.match };
    }
  }
  return outcome;
}

function staticMatch(locations: readonly LocationConf[], uri: string): Outcome {
  let best: LocationConf | undefined;
  let redirect: LocationConf | undefined;
  for (const location of locations) {
    if (location.modifier !== "" && location.modifier !== "^~" && location.modifier !== "=") continue;
    if (location.proxyPass && location.path === uri + "/" && uri !== "") redirect ??= location;
    if (location.modifier === "=") {
      if (location.path === uri) return { kind: "final", match: { location } };
      continue;
    }
    if (uri.startsWith(location.path) && (!best || location.path.length > best.path.length)) best = location;
  }
  // A location named exactly the URI (a prefix one: it is the longest) wins over the redirect.
  if (redirect && best?.path !== uri) return { kind: "redirect", match: { location: redirect, autoRedirect: true } };
  return best ? { kind: "prefix", match: { location: best } } : { kind: "none" };
}
