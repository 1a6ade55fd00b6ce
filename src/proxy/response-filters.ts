/**
 * The header filters of expires and charset on an upstream's response, as
 * nginx's run on the headers the upstream module copied: `expires` replaces
 * the upstream's own Expires (in its place) and the first Cache-Control
 * (dropping the others), or adds them before add_header's lines; `modified`
 * counts from the upstream's Last-Modified. charset rewrites Content-Type.
 * A header proxy_hide_header hides was never copied, so it is not touched.
 */

import { charsetContentType, splitContentType } from "../http/charset-filter.js";
import { expiresLines } from "../http/expires.js";
import type { HttpRequest } from "../http/request.js";
import { parseHttpTime } from "../static/conditional.js";
import { isHeader } from "../core/header-name.js";

export interface FilteredHead {
  readonly headers: Array<[string, string]>;
  /** Lines to add after the upstream's, before add_header's. */
  readonly added: Array<[string, string]>;
}

export function filterUpstreamHead(r: HttpRequest, status: number, upstream: Array<[string, string]>): FilteredHead {
  const hidden = r.loc.proxyHideHeaders;
  const copied = (name: string): number => upstream.findIndex(([other]) => isHeader(other, name));
  const visible = (name: string): number => (hidden.includes(name) ? -1 : copied(name));
  let headers = upstream;
  const added: Array<[string, string]> = [];

  const lastModifiedAt = visible("last-modified");
  const lastModified = lastModifiedAt === -1 ? -1 : parseHttpTime(upstream[lastModifiedAt]![1]);
  const expires = expiresLines(r, status, lastModified);
  if (expires !== undefined) {
    headers = [...headers];
    // r->headers_out.expires is the last Expires copied; cache_control the first of its list.
    const expiresAt = hidden.includes("expires") ? -1 : lastIndex(headers, "expires");
    if (expiresAt === -1) added.push(["Expires", expires.expires]);
    else headers[expiresAt] = [headers[expiresAt]![0], expires.expires];
    const cacheAt = visible("cache-control");
    if (cacheAt === -1) added.push(["Cache-Control", expires.cacheControl]);
    else {
      headers[cacheAt] = [headers[cacheAt]![0], expires.cacheControl];
      headers = headers.filter(([name], i) => i <= cacheAt || name.toLowerCase() !== "cache-control");
    }
  }

  const typeAt = visible("content-type");
  if (typeAt !== -1) {
    // X-Accel-Charset is read before hiding (nginx hides it by default and still obeys it), unless ignored.
    const accel = r.loc.proxyIgnoreHeaders.has("x-accel-charset") ? -1 : copied("x-accel-charset");
    const encodingAt = visible("content-encoding");
    const value = charsetContentType(r, {
      status,
      contentType: splitContentType(headers[typeAt]![1]),
      overrideCharset: accel === -1 ? undefined : headers[accel]![1],
      encoded: encodingAt !== -1 && headers[encodingAt]![1] !== "",
      action: "while reading response header from upstream",
    });
    if (value !== headers[typeAt]![1]) {
      if (headers === upstream) headers = [...headers];
      headers[typeAt] = [headers[typeAt]![0], value];
    }
  }
  return { headers, added };
}

function lastIndex(headers: ReadonlyArray<[string, string]>, name: string): number {
  for (let i = headers.length - 1; i >= 0; i--) if (isHeader(headers[i]![0], name)) return i;
  return -1;
}
