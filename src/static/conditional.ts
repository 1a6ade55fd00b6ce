/**
 * Conditional requests on a file, as ngx_http_not_modified_filter_module:
 * If-Unmodified-Since and If-Match fail with 412, If-Modified-Since and
 * If-None-Match answer 304; and ngx_parse_http_time(), which reads the three
 * date formats of HTTP (RFC 1123, RFC 850, asctime) and nothing else.
 */

import type { LocConf } from "../config/model.js";

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

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** ngx_parse_http_time(): seconds since the epoch, or -1 for anything else. */
export function parseHttpTime(value: string): number {
  const end = value.length;
  const code = (i: number): number => (i < end ? value.charCodeAt(i) : 0);
  const digit = (i: number): number => {
    const c = code(i);
    return c >= 48 && c <= 57 ? c - 48 : -1;
  };
  const two = (i: number): number => (digit(i) < 0 || digit(i + 1) < 0 ? -1 : digit(i) * 10 + digit(i + 1));
  let fmt: "none" | "rfc822" | "rfc850" | "isoc" = "none";
  let p = 0;
  for (; p < end; p++) {
    if (value[p] === ",") break;
    if (value[p] === " ") {
      fmt = "isoc";
      break;
    }
  }
  for (p++; p < end; p++) if (value[p] !== " ") break;
  if (end - p < 18) return -1;
  let day = 32;
  let year = 2038;
  if (fmt !== "isoc") {
    day = two(p);
    if (day < 0) return -1;
    p += 2;
    if (value[p] === " ") {
      if (end - p < 18) return -1;
      fmt = "rfc822";
    } else if (value[p] === "-") fmt = "rfc850";
    else return -1;
    p++;
  }
  let month: number;
  switch (value[p]) {
    case "J":
      month = value[p + 1] === "a" ? 0 : value[p + 2] === "n" ? 5 : 6;
      break;
    case "F":
      month = 1;
      break;
    case "M":
      month = value[p + 2] === "r" ? 2 : 4;
      break;
    case "A":
      month = value[p + 1] === "p" ? 3 : 7;
      break;
    case "S":
      month = 8;
      break;
    case "O":
      month = 9;
      break;
    case "N":
      month = 10;
      break;
    case "D":
      month = 11;
      break;
    default:
      return -1;
  }
  p += 3;
  if ((fmt === "rfc822" && value[p] !== " ") || (fmt === "rfc850" && value[p] !== "-")) return -1;
  p++;
  if (fmt === "rfc822") {
    const high = two(p);
    const low = two(p + 2);
    if (high < 0 || low < 0) return -1;
    year = high * 100 + low;
    p += 4;
  } else if (fmt === "rfc850") {
    year = two(p);
    if (year < 0) return -1;
    year += year < 70 ? 2000 : 1900;
    p += 2;
  }
  if (fmt === "isoc") {
    if (value[p] === " ") p++;
    if (digit(p) < 0) return -1;
    day = digit(p++);
    if (value[p] !== " ") {
      if (digit(p) < 0) return -1;
      day = day * 10 + digit(p++);
    }
    if (end - p < 14) return -1;
  }
  if (value[p++] !== " ") return -1;
  const hour = two(p);
  if (hour < 0) return -1;
  p += 2;
  if (value[p++] !== ":") return -1;
  const min = two(p);
  if (min < 0) return -1;
  p += 2;
  if (value[p++] !== ":") return -1;
  const sec = two(p);
  if (sec < 0) return -1;
  if (fmt === "isoc") {
    p += 2;
    if (value[p++] !== " ") return -1;
    const high = two(p);
    const low = two(p + 2);
    if (high < 0 || low < 0) return -1;
    year = high * 100 + low;
  }
  if (hour > 23 || min > 59 || sec > 59) return -1;
  if (day === 29 && month === 1) {
    if (year & 3 || (year % 100 === 0 && year % 400 !== 0)) return -1;
  } else if (day > MONTH_DAYS[month]!) return -1;
  // Gauss' formula, with the year starting on March 1 and months counted from 1.
  month -= 1;
  if (month <= 0) {
    month += 12;
    year -= 1;
  }
  const days =
    365 * year +
    Math.floor(year / 4) -
    Math.floor(year / 100) +
    Math.floor(year / 400) +
    Math.floor((367 * month) / 12) -
    30 +
    day -
    1 -
    719527 +
    31 +
    28;
  return days * 86400 + hour * 3600 + min * 60 + sec;
}
