/**
 * wsgate's own `wsgate_metrics;` in a location: the location answers with
 * the server's metrics in Prometheus' text format (src/static/metrics.ts).
 * Its presence anywhere in the configuration also makes every WebSocket
 * tunnel count its messages (src/proxy/tunnel-options.ts).
 */

import { contentFlagModule } from "./content-flag.js";

export const WSGATE_METRICS_MODULE = contentFlagModule("wsgate_metrics", "metrics");
