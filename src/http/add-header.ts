/**
 * The headers filter of ngx_http_headers_filter_module: `expires` (Expires,
 * Cache-Control) then add_header's lines of the level in force, on 200,
 * 201, 204, 206, 301, 302, 303, 304, 307 and 308 responses, or on any
 * status with `always`. A value that comes out empty adds nothing.
 */

import type { HttpRequest } from "./request.js";
import { expiresLines, SAFE_STATUSES } from "./expires.js";

/**
 * What the filter adds to a response wsgate makes itself (which has no
 * Expires or Cache-Control of its own): `lastModified` in seconds, -1 without.
 */
export function addedHeaders(r: HttpRequest, status: number, lastModified = -1): Array<[string, string]> {
  const expires = expiresLines(r, status, lastModified);
  const lines = addHeaderLines(r, status);
  if (expires === undefined) return lines;
  return [["Expires", expires.expires], ["Cache-Control", expires.cacheControl], ...lines];
}

/** add_header's lines alone (a proxied response places expires' own lines itself). */
export function addHeaderLines(r: HttpRequest, status: number): Array<[string, string]> {
  const lines = r.loc.addHeaders;
  if (lines.length === 0) return [];
  const safe = SAFE_STATUSES.has(status);
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    if (!safe && !line.always) continue;
    const value = line.value.evaluate(r);
    if (value !== "") out.push([line.name, value]);
  }
  return out;
}
