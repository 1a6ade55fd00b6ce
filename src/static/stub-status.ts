/**
 * ngx_http_stub_status_module: the connection and request counters as
 * plain text, in nginx's exact layout (trailing spaces included), for the
 * whole server as nginx's shared counters are: every worker's figures summed
 * (src/http/server-figures.ts), the exited workers' accepts, handled and
 * requests included. This request is active and writing in its worker's
 * figures, read as it is served; an upgraded connection (a tunnel) is active
 * and writing until it closes, as nginx frees its request only then.
 */

import type { HttpRequest } from "../http/request.js";
import { serveFigures } from "./figures-response.js";
import type { StaticServices } from "./services.js";

export function stubStatusText(s: ReturnType<StaticServices["connectionStats"]>): string {
  return (
    `Active connections: ${s.active} \n` +
    `server accepts handled requests\n` +
    ` ${s.accepted} ${s.handled} ${s.requests} \n` +
    `Reading: ${s.reading} Writing: ${s.writing} Waiting: ${s.waiting} \n`
  );
}

export function serveStubStatus(r: HttpRequest, services: StaticServices): void {
  serveFigures(
    r,
    services,
    (figures) => ({ body: stubStatusText(figures.connections), contentType: "text/plain" }),
    (err) => services.crash(r, err),
  );
}
