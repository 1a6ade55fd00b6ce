/**
 * wsgate's own `wsgate_metrics;` in a location: the location answers with
 * the server's metrics in Prometheus' text format (src/static/metrics.ts).
 * Its presence anywhere in the configuration also makes every WebSocket
 * tunnel count its messages (src/proxy/tunnel-options.ts).
 */

import type { ConfModule } from "../module.js";
import { directiveError } from "../values.js";

export const WSGATE_METRICS_MODULE: ConfModule = {
  name: "wsgate_metrics",
  directives: [
    {
      name: "wsgate_metrics",
      contexts: ["location"],
      args: [0],
      handle: (scope, node) => {
        const location = scope.location!;
        if (location.metrics) throw directiveError(node, "is duplicate");
        location.metrics = true;
      },
    },
  ],
};
