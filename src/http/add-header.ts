/**
 * add_header (ngx_http_headers_filter_module): the lines of the level in
 * force, on 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308 responses,
 * or on any status with `always`. A value that comes out empty adds nothing.
 */

import type { HttpRequest } from "./request.js";

const SAFE = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

export function addedHeaders(r: HttpRequest, status: number): Array<[string, string]> {
  const lines = r.loc.addHeaders;
  if (lines.length === 0) return [];
  const safe = SAFE.has(status);
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    if (!safe && !line.always) continue;
    const value = line.value.evaluate(r);
    if (value !== "") out.push([line.name, value]);
  }
  return out;
}
