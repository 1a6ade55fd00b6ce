/**
 * The proxy content handler (ngx_http_proxy_handler): find the upstream
 * group the location's proxy_pass names — evaluated per request when it has
 * variables, through the resolver when it names a host — and start the
 * request's proxy session (session.ts), which takes it through the phases
 * of phase.ts.
 */

import { proxyPortOf } from "./upstream-request.js";
import type { LocationConf, ProxyPass } from "../config/model.js";
import type { ClientConnection } from "../http/connection.js";
import type { HttpRequest } from "../http/request.js";
import type { UpstreamGroup } from "../upstream/group.js";
import type { ProxyServices } from "./context.js";
import { namedGroup } from "../config/modules/proxy.js";
import { evaluatePassTarget } from "./pass-target.js";
import { resolveThenProxy } from "./resolve.js";
import { ProxySession } from "./session.js";

export type { ProxyServices } from "./context.js";

export function proxyRequest(
  r: HttpRequest,
  connection: ClientConnection,
  location: LocationConf,
  pass: ProxyPass,
  services: ProxyServices,
): void {
  const start = (target: ProxyPass, group: UpstreamGroup): void =>
    new ProxySession({ r, connection, location, pass: target, group, services }).start();
  if (pass.dynamic) {
    const target = evaluatePassTarget(r, pass, services.upstreams, location.loc.resolver !== undefined);
    if (target.kind === "error") {
      services.errorLogFor(r).log("error", target.message, r.logContext());
      services.respondError(r, target.status);
      return;
    }
    if (target.kind === "resolve") {
      resolveThenProxy(r, connection, location, target, services, start);
      return;
    }
    r.proxyHost = target.pass.proxyHost;
    r.proxyPort = proxyPortOf(target.pass);
    start(target.pass, target.group);
    return;
  }
  const group = namedGroup(services.upstreams, pass) ?? services.upstreams.get(pass.upstream.replace(/:80$/, ""));
  if (!group) {
    // finalize.ts resolves every proxy_pass to a group; reaching here is a bug, not a client error.
    services.errorLogFor(r).log("alert", `no upstream group "${pass.upstream}"`, r.logContext());
    services.respondError(r, 500);
    return;
  }
  r.proxyHost = pass.proxyHost;
  r.proxyPort = proxyPortOf(pass);
  start(pass, group);
}
