/**
 * The content handlers a serving process registers with the http core, in
 * the order their directives are looked for in a location: wsgate_upstream_status,
 * proxy_pass, stub_status, wsgate_metrics, wsgate_dashboard; a location with none of them is served by the
 * static module (index, files), after try_files where it is set.
 */

import { ContentHandlers, type ContentHandler } from "../http/content-handler.js";
import type { ClientConnection } from "../http/connection.js";
import { proxyRequest } from "../proxy/forward.js";
import { staticHandler, stubStatusHandler, tryFilesPhase } from "../static/content.js";
import { upstreamStatusHandler } from "../proxy/upstream-status.js";
import { dashboardHandler } from "../static/dashboard.js";
import { metricsHandler } from "../static/metrics.js";

/** proxy_pass: the request goes to the upstream (src/proxy/). */
const proxyHandler: ContentHandler = {
  name: "proxy_pass",
  claims: ({ location }) => location?.proxyPass !== undefined,
  handle: (r, flow) => {
    // Claimed only where the location has proxy_pass.
    const location = r.location!;
    proxyRequest(r, r.connection as ClientConnection, location, location.proxyPass!, flow);
  },
};

export function contentHandlers(): ContentHandlers {
  return new ContentHandlers(
    [upstreamStatusHandler, proxyHandler, stubStatusHandler, metricsHandler, dashboardHandler],
    staticHandler,
    tryFilesPhase,
  );
}
