/**
 * ngx_http_stub_status_module: the connection and request counters as
 * plain text, in nginx's exact layout (trailing spaces included).
 */

import { ownResponseHead } from "../http/own-response.js";
import type { HttpRequest } from "../http/request.js";
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
  const head = ownResponseHead(r, { status: 200, contentType: "text/plain", contentLength: body.length, keepAlive });
  r.status = 200;
  r.headerBytes = head.length;
  connection.write(r.method === "HEAD" ? head : head + body);
  services.finalize(r, keepAlive);
}
