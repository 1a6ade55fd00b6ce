/**
 * The content handler of a `wsgate_metrics` location: the whole server's
 * metrics (server-figures.ts: every process's, summed) in Prometheus' text
 * exposition format. Methods as stub_status: GET and HEAD, else 405.
 */

import type { ContentHandler } from "../http/content-handler.js";
import type { HttpRequest } from "../http/request.js";
import { ownResponseHead } from "../http/own-response.js";
import { sendWhole } from "../http/response-writer.js";
import { serverFigures } from "../http/server-figures.js";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../core/prometheus-text.js";
import { uncaughtLine } from "../log/uncaught.js";
import { discardBody, type StaticServices } from "./services.js";

export const metricsHandler: ContentHandler = {
  name: "wsgate_metrics",
  claims: ({ location }) => location?.metrics === true,
  handle: serveMetrics,
};

function serveMetrics(r: HttpRequest, services: StaticServices): void {
  discardBody(r);
  if (r.method !== "GET" && r.method !== "HEAD") {
    services.respondError(r, 405);
    return;
  }
  serverFigures(services.connectionStats()).then(
    (figures) => {
      // The client may have gone while the figures were gathered: its request is already logged.
      if (r.finished) return;
      const body = Buffer.from(prometheusText(figures.metrics));
      const head = ownResponseHead(r, {
        status: 200,
        contentType: PROMETHEUS_CONTENT_TYPE,
        charsetFiltered: true,
        contentLength: body.length,
      });
      sendWhole(r, 200, head, body, (req, keepAlive) => services.finalize(req, keepAlive));
    },
    (err: unknown) => {
      if (r.finished) return;
      services.errorLogFor(r).log("alert", `wsgate_metrics: ${uncaughtLine(err)}`, r.logContext());
      services.respondError(r, 500);
    },
  );
}
