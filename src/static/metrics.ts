/**
 * The content handler of a `wsgate_metrics` location: the whole server's
 * metrics (server-figures.ts: every process's, summed) in Prometheus' text
 * exposition format. Methods as stub_status: GET and HEAD, else 405.
 */

import type { ContentHandler } from "../http/content-handler.js";
import type { HttpRequest } from "../http/request.js";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../core/prometheus-text.js";
import { uncaughtLine } from "../log/uncaught.js";
import type { StaticServices } from "./services.js";
import { serveFigures } from "./figures-response.js";

export const metricsHandler: ContentHandler = {
  name: "wsgate_metrics",
  claims: ({ location }) => location?.metrics === true,
  handle: serveMetrics,
};

function serveMetrics(r: HttpRequest, services: StaticServices): void {
  serveFigures(
    r,
    services,
    (figures) => ({
      body: Buffer.from(prometheusText(figures.metrics)),
      contentType: PROMETHEUS_CONTENT_TYPE,
      charsetFiltered: true,
    }),
    (err) => {
      services.errorLogFor(r).log("alert", `wsgate_metrics: ${uncaughtLine(err)}`, r.logContext());
      services.respondError(r, 500);
    },
  );
}
