/**
 * ngx_http_stub_status_module: the connection and request counters as
 * plain text, in nginx's exact layout (trailing spaces included).
 */

import type { HttpRequest } from "../http/request.js";
import { SERVER_TOKEN, SERVER_TOKEN_BARE } from "../version.js";
import { formatHttpDate } from "../vars/time.js";
import { connectionOf, discardBody, type StaticServices } from "./services.js";

export function stubStatusText(s: ReturnType<StaticServices["connectionStats"]>): string {
  return (
    `Active connections: ${s.active} \n` +
    `server accepts handled requests\n` +
    ` ${s.accepted} ${s.handled} ${s.requests} \n` +
    `Reading: ${s.reading} Writing: ${s.writing} Waiting: ${s.waiting} \n`
  );
}

export function serveStubStatus(r: HttpRequest, services: StaticServices): void {
  discardBody(r);
  if (r.method !== "GET" && r.method !== "HEAD") {
    services.respondError(r, 405);
    return;
  }
  const connection = connectionOf(r);
  const body = stubStatusText(services.connectionStats());
  const loc = r.loc;
  const keepAlive = r.facts.keepAlive && loc.keepaliveTimeoutMs > 0 && connection.requests < loc.keepaliveRequests;
  let head =
    `HTTP/1.1 200 OK\r\n` +
    `Server: ${loc.serverTokens === "off" ? SERVER_TOKEN_BARE : SERVER_TOKEN}\r\n` +
    `Date: ${formatHttpDate(Date.now())}\r\n` +
    `Content-Type: text/plain\r\n` +
    `Content-Length: ${body.length}\r\n` +
    `Connection: ${keepAlive ? "keep-alive" : "close"}\r\n`;
  if (keepAlive && loc.keepaliveHeaderSeconds !== undefined)
    head += `Keep-Alive: timeout=${loc.keepaliveHeaderSeconds}\r\n`;
  head += "\r\n";
  r.status = 200;
  r.headerBytes = head.length;
  connection.write(r.method === "HEAD" ? head : head + body);
  services.finalize(r, keepAlive);
}
