/**
 * The gzip filter's header step (ngx_http_gzip_header_filter with the core
 * module's ngx_http_gzip_ok): whether a response is compressed, and how its
 * head changes when it is.
 *
 * A response is a candidate when gzip is on, its status is 200, 403 or 404,
 * it has no Content-Encoding, its length (when known) is at least
 * gzip_min_length and its type is in gzip_types. A candidate is marked for
 * `Vary: Accept-Encoding` (gzip_vary) whatever the client; it is compressed
 * when the client accepts gzip (a q of 0 refuses it), is not an old MSIE under
 * `gzip_disable msie6`, speaks gzip_http_version or newer, passes gzip_proxied
 * when the request came through a proxy (Via) and matches no gzip_disable
 * regex. HEAD is decided as GET (nginx decides before it knows no body goes).
 *
 * The compressed response loses Content-Length and Accept-Ranges, its strong
 * ETag becomes weak (ngx_http_weak_etag), and it gets `Content-Encoding:
 * gzip` after the headers already listed. The body step is gzip-body.ts.
 */

import type { LocConf } from "../config/model.js";
import { isHeader } from "../core/header-name.js";
import type { HeaderList } from "../vars/source.js";
import { parseHttpTime } from "./http-time.js";
import type { HttpRequest } from "./request.js";

/** none: untouched; vary: a candidate the client cannot have compressed; gzip: compressed. */
export type GzipVerdict = "none" | "vary" | "gzip";

/** What the filter reads of a response about to be sent. */
export interface GzipSubject {
  readonly status: number;
  /** The Content-Type header's value; undefined without one. */
  readonly contentType: string | undefined;
  /** The body's length; undefined when not known (-1 in nginx). */
  readonly contentLength: number | undefined;
  /** The headers of the response's list (Content-Encoding, Expires, Cache-Control, Last-Modified, ETag …). */
  readonly headers: HeaderList;
}

const GZIP_STATUSES = new Set([200, 403, 404]);

/** The filter's decision for `r`'s response. */
export function gzipVerdict(r: HttpRequest, subject: GzipSubject): GzipVerdict {
  const loc = r.loc;
  if (!loc.gzip || !GZIP_STATUSES.has(subject.status)) return "none";
  const encoding = first(subject.headers, "content-encoding");
  if (encoding !== undefined && encoding !== "") return "none";
  if (subject.contentLength !== undefined && subject.contentLength < loc.gzipMinLength) return "none";
  if (!typeMatches(loc, subject.contentType)) return "none";
  return gzipAccepted(r, subject.headers) ? "gzip" : "vary";
}

/** ngx_http_test_content_type(): the type up to a `; charset=` parameter, lower-cased. */
export function typeMatches(loc: LocConf, contentType: string | undefined): boolean {
  if (loc.gzipTypes === "any") return true;
  if (contentType === undefined || contentType === "") return false;
  return loc.gzipTypes.has(mediaType(contentType).toLowerCase());
}

/** The part of a Content-Type nginx compares: all of it unless a `charset=` parameter follows a ";". */
function mediaType(value: string): string {
  for (let i = value.indexOf(";"); i !== -1; i = value.indexOf(";", i + 1)) {
    let p = i + 1;
    while (value[p] === " ") p++;
    if (p === value.length) return value;
    if (value.slice(p, p + 8).toLowerCase() === "charset=") return value.slice(0, i);
  }
  return value;
}

/** ngx_http_gzip_ok(): whether this client may have this response compressed. */
export function gzipAccepted(r: HttpRequest, response: HeaderList): boolean {
  const loc = r.loc;
  // r != r->main: a subrequest's response is read by wsgate, never compressed.
  if (r.parent !== undefined) return false;
  const accept = first(r.headers, "accept-encoding");
  if (accept === undefined || accept.length < 4) return false;
  if (!accept.startsWith("gzip,") && !acceptsGzip(accept)) return false;
  const agent = first(r.headers, "user-agent");
  if (loc.gzipDisableMsie6 && agent !== undefined && isMsie6(agent)) return false;
  if (r.head.version < loc.gzipHttpVersion) return false;
  if (first(r.headers, "via") !== undefined && !proxiedAllowed(r, response)) return false;
  if (agent !== undefined && loc.gzipDisable.some((regex) => regex.test(agent))) return false;
  return true;
}

/** gzip_proxied's rules for a request that came through a proxy. */
function proxiedAllowed(r: HttpRequest, response: HeaderList): boolean {
  const words = r.loc.gzipProxied;
  if (words.has("off")) return false;
  if (words.has("any")) return true;
  if (words.has("auth") && first(r.headers, "authorization") !== undefined) return true;
  const expires = first(response, "expires");
  if (expires !== undefined) {
    if (!words.has("expired")) return false;
    const when = parseHttpTime(expires);
    if (when === -1) return false;
    const dateText = first(response, "date");
    const date = dateText === undefined ? Math.floor(Date.now() / 1000) : parseHttpTime(dateText);
    return date !== -1 && when < date;
  }
  const cacheControl = response.filter(([name]) => name.toLowerCase() === "cache-control").map(([, value]) => value);
  if (cacheControl.length > 0) {
    return (
      (words.has("no-cache") && hasToken(cacheControl, "no-cache")) ||
      (words.has("no-store") && hasToken(cacheControl, "no-store")) ||
      (words.has("private") && hasToken(cacheControl, "private"))
    );
  }
  if (words.has("no_last_modified") && first(response, "last-modified") !== undefined) return false;
  if (words.has("no_etag") && first(response, "etag") !== undefined) return false;
  return true;
}

/** ngx_http_parse_multi_header_lines() without a value: `token` alone as an element of a comma list. */
function hasToken(values: readonly string[], token: string): boolean {
  for (const value of values) {
    let p = 0;
    while (p < value.length) {
      if (value.slice(p, p + token.length).toLowerCase() === token) {
        let q = p + token.length;
        while (value[q] === " ") q++;
        if (q === value.length || value[q] === ",") return true;
      }
      while (p < value.length && value[p] !== ",") p++;
      while (p < value.length && (value[p] === "," || value[p] === " ")) p++;
    }
  }
  return false;
}

/** ngx_http_gzip_accept_encoding(): "gzip" as a coding of its own, with a q above 0 or none. */
export function acceptsGzip(value: string): boolean {
  const lower = value.toLowerCase();
  let at = lower.indexOf("gzip");
  while (at > 0 && value[at - 1] !== "," && value[at - 1] !== " ") at = lower.indexOf("gzip", at + 4);
  if (at === -1) return false;
  let p = at + 4;
  for (; p < value.length; p++) {
    const c = value[p];
    if (c === ",") return true;
    if (c === ";") break;
    if (c !== " ") return false;
  }
  if (p === value.length) return true;
  for (p++; p < value.length; p++) {
    const c = value[p];
    if (c === "q" || c === "Q") break;
    if (c !== " ") return false;
  }
  if (p === value.length) return true;
  p++;
  if (p + 2 > value.length || value[p] !== "=") return false;
  return quantity(value, p + 1) !== 0;
}

/** ngx_http_gzip_quantity(): the q value times 100, 0 for anything malformed. */
function quantity(value: string, start: number): number {
  let p = start;
  const lead = value[p++];
  if (lead !== "0" && lead !== "1") return 0;
  let q = (lead === "1" ? 1 : 0) * 100;
  if (p === value.length) return q;
  const next = value[p++];
  if (next === "," || next === " ") return q;
  if (next !== ".") return 0;
  let digits = 0;
  while (p < value.length) {
    const c = value[p++]!;
    if (c === "," || c === " ") break;
    if (c < "0" || c > "9") return 0;
    // nginx adds each digit without weighting it: "0.5" and "0.005" both count 5.
    q += c.charCodeAt(0) - 48;
    digits++;
  }
  if (q > 100 || digits > 3) return 0;
  return q;
}

/** ngx_http_process_user_agent()'s msie6: MSIE 4.x or 5.x, or 6.x without SV1; never Opera. */
function isMsie6(agent: string): boolean {
  if (agent.includes("Opera")) return false;
  const at = agent.indexOf("MSIE ");
  if (at === -1 || at + 7 >= agent.length || agent[at + 6] !== ".") return false;
  const major = agent[at + 5];
  if (major === "4" || major === "5") return true;
  return major === "6" && !agent.slice(at + 8).includes("SV1");
}

/**
 * The header changes of a compressed response, on its list: Content-Length
 * and the first Accept-Ranges go, the first ETag becomes weak (or goes, when
 * it is not a quoted one). CONTENT_ENCODING follows the list's other lines,
 * add_header's included (the headers filter runs before the gzip filter).
 */
export function gzipHeaders(headers: HeaderList): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let etagSeen = false;
  let rangesSeen = false;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "content-length") continue;
    if (lower === "accept-ranges" && !rangesSeen) {
      rangesSeen = true;
      continue;
    }
    if (lower === "etag" && !etagSeen) {
      etagSeen = true;
      const weak = weakEtag(value);
      if (weak !== undefined) out.push([name, weak]);
      continue;
    }
    out.push([name, value]);
  }
  return out;
}

export const CONTENT_ENCODING: readonly [string, string] = ["Content-Encoding", "gzip"];

/** ngx_http_weak_etag(): W/ kept, a quoted tag made weak, anything else dropped. */
export function weakEtag(value: string): string | undefined {
  if (value.length > 2 && value.startsWith("W/")) return value;
  if (!value.startsWith('"')) return undefined;
  return `W/${value}`;
}

/** gzip_vary's header, written by the header filter after Connection. */
export function varyLines(loc: LocConf, verdict: GzipVerdict): Array<[string, string]> {
  return verdict !== "none" && loc.gzipVary ? [["Vary", "Accept-Encoding"]] : [];
}

function first(headers: HeaderList, lower: string): string | undefined {
  for (const [name, value] of headers) if (isHeader(name, lower)) return value;
  return undefined;
}
