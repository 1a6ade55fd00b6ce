/**
 * nginx's error pages (ngx_http_special_response.c): one helper builds every
 * error response wsgate sends itself, with nginx's page text, headers and
 * keep-alive rules.
 */

import { SERVER_TOKEN, SERVER_TOKEN_BARE } from "../version.js";
import { formatHttpDate } from "../vars/time.js";
import { statusLine } from "./status.js";
import { STATUS_HEADER_TOO_LARGE } from "./request-head.js";

const CRLF = "\r\n";

/** Errors after which nginx never keeps the connection (ngx_http_special_response_handler). */
const CLOSES_CONNECTION = new Set([400, STATUS_HEADER_TOO_LARGE, 408, 413, 414, 495, 496, 497, 500, 501, 505]);

/** nginx's TLS codes (NGX_HTTPS_CERT_ERROR, NGX_HTTPS_NO_CERT, NGX_HTTP_TO_HTTPS): sent and logged as 400. */
const TLS_PAGES: Record<number, string> = {
  495: "The SSL certificate error",
  496: "No required SSL certificate was sent",
  497: "The plain HTTP request was sent to HTTPS port",
};

export function errorClosesConnection(status: number): boolean {
  return CLOSES_CONNECTION.has(status);
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

export interface ErrorResponse {
  readonly head: string;
  readonly body: string;
}

/**
 * The whole response for an error: head and page (no page for HEAD).
 * `keepAlive` is whether the connection stays open afterwards.
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
  const server = options.serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN;
  let head =
    `HTTP/1.1 ${statusLine(wireStatus(status))}${CRLF}` +
    `Server: ${server}${CRLF}` +
    `Date: ${formatHttpDate(Date.now())}${CRLF}` +
    `Content-Type: text/html${CRLF}` +
    `Content-Length: ${body.length}${CRLF}`;
  if (options.location !== undefined) head += `Location: ${options.location}${CRLF}`;
  head += `Connection: ${options.keepAlive ? "keep-alive" : "close"}${CRLF}`;
  if (options.keepAlive && options.keepAliveHeader) head += `Keep-Alive: ${options.keepAliveHeader}${CRLF}`;
  for (const [name, value] of options.extraHeaders ?? []) head += `${name}: ${value}${CRLF}`;
  head += CRLF;
  return { head, body: options.head ? "" : body };
}
