/**
 * The answer of the handlers that show the whole server's figures (stub_status, wsgate_metrics):
 * GET and HEAD only (else 405, as ngx_http_stub_status_handler()), the body discarded, the figures
 * gathered from every process (server-figures.ts), then one whole response. The client may leave
 * while the figures are gathered: its request is logged by then, and nothing is sent.
 */

import type { HttpRequest } from "../http/request.js";
import { ownResponseHead } from "../http/own-response.js";
import { sendWhole } from "../http/response-writer.js";
import { serverFigures, type ProcessFigures } from "../http/server-figures.js";
import { discardBody, type StaticServices } from "./services.js";

export interface FiguresBody {
  readonly body: string | Buffer;
  readonly contentType: string;
  /** The type is sent as is: the charset filter does not add its parameter (own-response.ts). */
  readonly charsetFiltered?: boolean;
}

export function serveFigures(
  r: HttpRequest,
  services: StaticServices,
  render: (figures: ProcessFigures) => FiguresBody,
  failed: (err: unknown) => void,
): void {
  discardBody(r);
  if (r.method !== "GET" && r.method !== "HEAD") {
    services.respondError(r, 405);
    return;
  }
  serverFigures(services.connectionStats()).then(
    (figures) => {
      if (r.finished) return;
      const { body, contentType, charsetFiltered } = render(figures);
      const contentLength = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      const head = ownResponseHead(r, {
        status: 200,
        contentType,
        ...(charsetFiltered ? { charsetFiltered } : {}),
        contentLength,
      });
      sendWhole(r, 200, head, body, (req, keepAlive) => services.finalize(req, keepAlive));
    },
    (err: unknown) => {
      if (!r.finished) failed(err);
    },
  );
}
