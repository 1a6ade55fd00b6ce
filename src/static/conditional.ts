/**
 * Conditional requests on a file, as ngx_http_not_modified_filter_module:
 * If-Unmodified-Since and If-Match fail with 412, If-Modified-Since and
 * If-None-Match answer 304 (dates read by ngx_parse_http_time(), in
 * http/http-time.ts, re-exported here for the range filter).
 */

import type { LocConf } from "../config/model.js";
import { parseHttpTime } from "../http/http-time.js";

export { parseHttpTime };

export interface Validators {
  /** Seconds since the epoch. */
  readonly mtime: number;
  /** The ETag header's value, or undefined with `etag off`. */
  readonly etag: string | undefined;
}

export type Precondition = "ok" | "not-modified" | "failed";

/** The first value of a request header (nginx keeps the first of these). */
export function firstHeader(headers: ReadonlyArray<readonly [string, string]>, lower: string): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === lower) return value;
  return undefined;
}

export function checkPreconditions(
  headers: ReadonlyArray<readonly [string, string]>,
  file: Validators,
  loc: Pick<LocConf, "ifModifiedSince">,
): Precondition {
  const ifUnmodifiedSince = firstHeader(headers, "if-unmodified-since");
  if (ifUnmodifiedSince !== undefined && !(parseHttpTime(ifUnmodifiedSince) >= file.mtime)) return "failed";
  const ifMatch = firstHeader(headers, "if-match");
  if (ifMatch !== undefined && !etagMatches(ifMatch, file.etag, false)) return "failed";
  const ifModifiedSince = firstHeader(headers, "if-modified-since");
  const ifNoneMatch = firstHeader(headers, "if-none-match");
  if (ifModifiedSince === undefined && ifNoneMatch === undefined) return "ok";
  if (ifModifiedSince !== undefined && modifiedSince(ifModifiedSince, file.mtime, loc.ifModifiedSince)) return "ok";
  if (ifNoneMatch !== undefined && !etagMatches(ifNoneMatch, file.etag, true)) return "ok";
  return "not-modified";
}

/** ngx_http_test_if_modified(): true when the file counts as modified. */
function modifiedSince(value: string, mtime: number, mode: LocConf["ifModifiedSince"]): boolean {
  if (mode === "off") return true;
  const since = parseHttpTime(value);
  if (since === mtime) return false;
  return mode === "exact" || since < mtime;
}

/** ngx_http_test_if_match(): a list of entity tags, or "*"; weak comparison skips "W/". */
export function etagMatches(header: string, etag: string | undefined, weak: boolean): boolean {
  if (header === "*") return true;
  if (etag === undefined) return false;
  let i = 0;
  const end = header.length;
  while (i < end) {
    if (weak && end - i > 2 && header[i] === "W" && header[i + 1] === "/") i += 2;
    if (etag.length > end - i) return false;
    if (header.startsWith(etag, i)) {
      let j = i + etag.length;
      while (j < end && (header[j] === " " || header[j] === "\t")) j++;
      if (j === end || header[j] === ",") return true;
    }
    while (i < end && header[i] !== ",") i++;
    while (i < end && (header[i] === " " || header[i] === "\t" || header[i] === ",")) i++;
  }
  return false;
}
