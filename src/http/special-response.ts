/**
 * nginx's special responses (ngx_http_special_response.c): every error
 * response wsgate sends itself — a status answered with nginx's page, or a
 * redirect — is built by specialResponse(), and written by the response
 * writer with the head own-response.ts composes. Here: the page texts, the
 * codes sent under another status (494, 495–497 as 400), and
 * errorResponse(), the same head and page for a caller without a request.
 */

import { SERVER_TOKEN, SERVER_TOKEN_BARE } from "../version.js";
import { formatHttpDate } from "../vars/time.js";
import { statusLine } from "./status.js";
import { STATUS_HEADER_TOO_LARGE } from "./request-head.js";
import { statusForbidsKeepAlive } from "./keep-alive.js";
import { headText, linesFor, ownStatusLine } from "./response-writer.js";
import type { HttpRequest } from "./request.js";
import { ownResponseHead, type OwnHeadText } from "./own-response.js";

const CRLF = "\r\n";

/**
 * Statuses after which wsgate's answer always ends the connection: nginx's
 * special-response list (keep-alive.ts), and the errors only found while
 * reading the head (494, 408, 505), before nginx decides on keep-alive.
 */
const FOUND_IN_HEAD = new Set([STATUS_HEADER_TOO_LARGE, 408, 505]);

/** nginx's TLS codes (NGX_HTTPS_CERT_ERROR, NGX_HTTPS_NO_CERT, NGX_HTTP_TO_HTTPS): sent and logged as 400. */
const TLS_PAGES: Record<number, string> = {
  495: "The SSL certificate error",
  496: "No required SSL certificate was sent",
  497: "The plain HTTP request was sent to HTTPS port",
};

/** The statuses nginx has a built-in page for (ngx_http_error_pages). */
const PAGES = new Set([
  301,
  302,
  303,
  307,
  308,
  400,
  401,
  402,
  403,
  404,
  405,
  406,
  408,
  409,
  410,
  411,
  412,
  413,
  414,
  415,
  416,
  421,
  429,
  STATUS_HEADER_TOO_LARGE,
  495,
  496,
  497,
  498,
  500,
  501,
  502,
  503,
  504,
  505,
  507,
]);

export function errorClosesConnection(status: number): boolean {
  return statusForbidsKeepAlive(status) || FOUND_IN_HEAD.has(status);
}

/** The status a special code is sent and logged as (494 → 400). */
export function wireStatus(status: number): number {
  return status === STATUS_HEADER_TOO_LARGE || TLS_PAGES[status] !== undefined ? 400 : status;
}

export function errorPageBody(status: number, serverTokens: "on" | "off" | "build"): string {
  const tail = `<hr><center>${serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN}</center>${CRLF}</body>${CRLF}</html>${CRLF}`;
  if (status === STATUS_HEADER_TOO_LARGE) {
    return (
      `<html>${CRLF}<head><title>400 Request Header Or Cookie Too Large</title></head>${CRLF}<body>${CRLF}` +
      `<center><h1>400 Bad Request</h1></center>${CRLF}<center>Request Header Or Cookie Too Large</center>${CRLF}` +
      tail
    );
  }
  const tlsText = TLS_PAGES[status];
  if (tlsText !== undefined) {
    return (
      `<html>${CRLF}<head><title>400 ${tlsText}</title></head>${CRLF}<body>${CRLF}` +
      `<center><h1>400 Bad Request</h1></center>${CRLF}<center>${tlsText}</center>${CRLF}` +
      tail
    );
  }
  const title = statusLine(status);
  return `<html>${CRLF}<head><title>${title}</title></head>${CRLF}<body>${CRLF}<center><h1>${title}</h1></center>${CRLF}${tail}`;
}

/** nginx's page for a status, or undefined when it has none (the response is then empty). */
export function specialPageBody(status: number, serverTokens: "on" | "off" | "build"): string | undefined {
  if (!PAGES.has(status)) return undefined;
  const page = errorPageBody(status === 498 ? 404 : status, serverTokens);
  // The page of 302 is titled "Found" though its status line says "Moved Temporarily";
  // that of 401 "Authorization Required" though its status line says "Unauthorized".
  if (status === 302) return page.replaceAll("302 Moved Temporarily", "302 Found");
  return status === 401 ? page.replaceAll("401 Unauthorized", "401 Authorization Required") : page;
}

export interface SpecialResponse {
  /** The status sent (and logged). */
  readonly status: number;
  readonly head: OwnHeadText;
  /** nginx's page; undefined for a status without one. */
  readonly body: string | undefined;
}

/**
 * ngx_http_send_special_response(): the response for `status` (with the
 * error_page's "=code" or redirect already in r): nginx's page as text/html,
 * the status sent as nginx sends it, the head in the header filter's order.
 */
export function specialResponse(
  r: HttpRequest,
  status: number,
  listed?: ReadonlyArray<readonly [string, string]>,
): SpecialResponse {
  const send = wireStatus(status);
  const body = specialPageBody(status, r.loc.serverTokens);
  const head = ownResponseHead(r, {
    status: send,
    contentType: body === undefined ? undefined : "text/html",
    contentLength: body?.length ?? 0,
    listed,
  });
  return { status: send, head, body };
}

export interface ErrorResponse {
  readonly head: string;
  readonly body: string;
}

/**
 * The whole response for an error, without a request at hand: head and page
 * (no page for HEAD). `keepAlive` is whether the connection stays open afterwards.
 */
export function errorResponse(
  status: number,
  options: {
    keepAlive: boolean;
    head: boolean;
    serverTokens: "on" | "off" | "build";
    keepAliveHeader?: string | undefined;
    /** A Location (a 301 for a directory), written in nginx's place for it. */
    location?: string | undefined;
    /** Headers of the response's own list (a 416's Content-Range), written last. */
    extraHeaders?: ReadonlyArray<readonly [string, string]> | undefined;
  },
): ErrorResponse {
  const body = errorPageBody(status, options.serverTokens);
  const headers: Array<readonly [string, string]> = [
    ["Server", options.serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN],
    ["Date", formatHttpDate(Date.now())],
    ["Content-Type", "text/html"],
    ["Content-Length", String(body.length)],
  ];
  if (options.location !== undefined) headers.push(["Location", options.location]);
  const seconds = options.keepAliveHeader ? Number(/\d+/.exec(options.keepAliveHeader)?.[0]) : undefined;
  headers.push(...linesFor(options.keepAlive, seconds));
  headers.push(...(options.extraHeaders ?? []));
  return { head: headText(ownStatusLine(wireStatus(status)), headers), body: options.head ? "" : body };
}
