/**
 * The head of a response wsgate makes itself — `return`, redirects, error
 * pages, files, stub_status — as nginx's header filter writes it: Server,
 * Date, Content-Type, Content-Length, Last-Modified, a relative Location made
 * absolute (absolute_redirect, server_name_in_redirect, port_in_redirect),
 * Connection and Keep-Alive (the response writer's), then an absolute
 * Location and the add_header lines in the list's order. The gzip filter
 * (gzip-filter.ts) has its say on the head here.
 */

import { SERVER_TOKEN, SERVER_TOKEN_BARE } from "../version.js";
import { formatHttpDate } from "../vars/time.js";
import type { HttpRequest } from "./request.js";
import { addedHeaders } from "./add-header.js";
import { charsetContentType } from "./charset-filter.js";
import { connectionLines, headText, ownStatusLine, type BodyEnd } from "./response-writer.js";
import { contentTypeFor } from "./mime.js";
import { CONTENT_ENCODING, gzipHeaders, gzipVerdict, varyLines, type GzipVerdict } from "./gzip-filter.js";

export interface OwnHead {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly contentLength: number | undefined;
  /** How the body ends; "framed" unless told (wsgate's own answers always have a length). */
  readonly bodyEnd?: BodyEnd | undefined;
  /** The body goes in chunks (a listing of unknown length): "Transfer-Encoding: chunked" before Connection. */
  readonly chunked?: boolean | undefined;
  /** A file's modification time, as an HTTP date. */
  readonly lastModified?: string | undefined;
  /** Headers of the response's own list (ETag, Accept-Ranges, Content-Range), before add_header's. */
  readonly listed?: ReadonlyArray<readonly [string, string]> | undefined;
  /** The status add_header's filter saw, when a later filter changed it (the range filter's 206); default `status`. */
  readonly addHeaderStatus?: number | undefined;
  /** Headers a filter after add_header's added (Accept-Ranges, Content-Range). */
  readonly afterAdded?: ReadonlyArray<readonly [string, string]> | undefined;
  /** The gzip filter's verdict when the caller made it (a file, before ranges); else made here. */
  readonly gzip?: GzipVerdict | undefined;
  /** The charset filter already ran on the type (a multipart's parts carry the charset): the type is sent as is. */
  readonly charsetFiltered?: boolean | undefined;
}

/** ngx_http_header_filter() sends Last-Modified only with these statuses (not on an error page). */
const LAST_MODIFIED_STATUSES = new Set([200, 206, 304]);

/** The head's text, and whether the connection may outlive the response. */
export interface OwnHeadText {
  readonly text: string;
  readonly keepAlive: boolean;
  /** The body goes through the gzip filter (gzip-body.ts), in chunks when `chunked`. */
  readonly gzip?: boolean;
  readonly chunked?: boolean;
}

/** The response head; records what the access log and $sent_http_ need. */
export function ownResponseHead(r: HttpRequest, head: OwnHead): OwnHeadText {
  const loc = r.loc;
  const sent: Array<[string, string]> = [];
  const list: Array<[string, string]> = [];
  const noContent = head.status === 204;
  const listed = (head.listed ?? []).map(([name, value]): [string, string] => [name, value]);
  const added = addedHeaders(r, head.addHeaderStatus ?? head.status, seconds(head.lastModified));
  const verdict =
    head.gzip ??
    gzipVerdict(r, {
      status: head.status,
      contentType: head.contentType,
      contentLength: head.contentLength,
      headers: [...listed, ...added],
    });
  const gzip = verdict === "gzip";
  // nginx's chunked filter frames a compressed body for an HTTP/1.1 client; HEAD has none to frame.
  const chunked = gzip && r.method !== "HEAD" && r.head.version >= 1001 && loc.chunkedTransferEncoding;
  const contentLength = gzip ? undefined : head.contentLength;
  sent.push(["Server", loc.serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN]);
  sent.push(["Date", formatHttpDate(Date.now())]);
  if (head.contentType !== undefined && !noContent) sent.push(["Content-Type", ownContentType(r, head)]);
  if (contentLength !== undefined && !noContent) sent.push(["Content-Length", String(contentLength)]);
  if (head.lastModified !== undefined && LAST_MODIFIED_STATUSES.has(head.status))
    sent.push(["Last-Modified", head.lastModified]);
  const location = r.outLocation;
  if (location !== undefined) {
    if (location.startsWith("/") && loc.absoluteRedirect) sent.push(["Location", absoluteLocation(r, location)]);
    else list.push(["Location", location]);
  }
  if (chunked || head.chunked === true) sent.push(["Transfer-Encoding", "chunked"]);
  const bodyEnd = gzip && !chunked && r.method !== "HEAD" ? "close" : head.bodyEnd;
  const connection = connectionLines(r, bodyEnd);
  sent.push(...connection.lines, ...varyLines(loc, verdict));
  sent.push(
    ...list,
    ...(r.carriedHeaders ?? []).map(([name, value]): [string, string] => [name, value]),
    ...(gzip ? gzipHeaders(listed) : listed),
    ...added,
    ...(gzip ? [[...CONTENT_ENCODING] as [string, string]] : []),
    ...(head.afterAdded ?? []).map(([name, value]): [string, string] => [name, value]),
  );
  r.responseHeaders = sent;
  return { text: headText(ownStatusLine(head.status), sent), keepAlive: connection.keepAlive, gzip, chunked };
}

function ownContentType(r: HttpRequest, head: OwnHead): string {
  return head.charsetFiltered ? head.contentType! : ownCharsetType(r, head.status, head.contentType!);
}

/** A type wsgate set with the charset module's charset; nginx sets a type of its own whole, never splitting a charset off. */
export function ownCharsetType(r: HttpRequest, status: number, value: string): string {
  return charsetContentType(r, { status, contentType: { value, typeLength: value.length, charset: "" } });
}

/** The file's time back in seconds (the date is wsgate's own, from formatHttpDate()), -1 without one. */
function seconds(httpDate: string | undefined): number {
  return httpDate === undefined ? -1 : Math.floor(Date.parse(httpDate) / 1000);
}

/** A Location starting with "/" made absolute, as ngx_http_header_filter() does. */
export function absoluteLocation(r: HttpRequest, location: string): string {
  const loc = r.loc;
  let host: string;
  if (loc.serverNameInRedirect) host = r.serverName;
  else if (r.facts.host !== "") host = r.facts.host;
  else host = r.connection.localAddress;
  const port = r.connection.localPort;
  const tls = r.connection.tls !== undefined;
  const showPort = loc.portInRedirect && port !== (tls ? 443 : 80);
  return `${tls ? "https" : "http"}://${host}${showPort ? `:${port}` : ""}${location}`;
}

/** The Content-Type of a `return` text: the type of the URI's extension, else default_type (ngx_http_set_content_type). */
export function returnContentType(r: HttpRequest): string {
  return contentTypeFor(r.uri, r.loc);
}
