/**
 * proxy_pass with a host name in a variable (ngx_http_upstream_resolve_handler):
 * the location's resolver is asked (answers cached by their TTL), then the
 * request is proxied to a fresh group of every address of the answer. A name
 * that does not resolve is nginx's 502 "could not be resolved"; a client gone
 * meanwhile is logged as 499 and the answer dropped.
 */

import { proxyPortOf } from "./upstream-request.js";
import type { LocationConf, ProxyPass } from "../config/model.js";
import type { ClientConnection } from "../http/connection.js";
import type { HttpRequest } from "../http/request.js";
import { dnsClient, ResolveError } from "../upstream/dns.js";
import type { UpstreamGroup } from "../upstream/group.js";
import type { ProxyServices } from "./context.js";
import { resolvedGroup } from "./pass-target.js";

export interface ResolveTarget {
  readonly pass: ProxyPass;
  readonly host: string;
  readonly port: number;
}

export function resolveThenProxy(
  r: HttpRequest,
  connection: ClientConnection,
  location: LocationConf,
  target: ResolveTarget,
  services: ProxyServices,
  proxy: (pass: ProxyPass, group: UpstreamGroup) => void,
): void {
  let aborted = false;
  connection.onAbortHandler = () => {
    aborted = true;
    if (r.status === 0) r.status = 499;
    services.finalize(r, false);
  };
  const resolved = (answer: { readonly addresses: readonly string[] }): void => {
    if (aborted) return;
    connection.onAbortHandler = undefined;
    r.proxyHost = target.pass.proxyHost;
    r.proxyPort = proxyPortOf(target.pass);
    proxy(target.pass, resolvedGroup(target.pass, answer.addresses, target.port));
  };
  const failed = (err: unknown): void => {
    if (aborted) return;
    connection.onAbortHandler = undefined;
    const failure = err instanceof ResolveError ? err : new ResolveError(110, "Operation timed out");
    const message = `${target.host} could not be resolved (${failure.code}: ${failure.text})`;
    services.errorLogFor(r).log("error", message, r.logContext());
    services.respondError(r, 502);
  };
  dnsClient(location.loc.resolver!, location.loc.resolverTimeoutMs)
    .resolve(target.host)
    .then(resolved, failed)
    // A throw in the handlers is a bug of this request: it ends the request, not the process.
    .catch((err: unknown) => {
      if (!aborted) services.crash(r, err);
    });
}
