/**
 * The content handler of a `wsgate_upstream_status` location: the upstream
 * groups' state (src/upstream/status.ts) as JSON, as the group sees it: each
 * worker's view of each peer merged (src/upstream/status-merge.ts) through the
 * server's figures (src/http/server-figures.ts). It keeps the connection as
 * any answer of wsgate's own does (the response writer's rule).
 */

import type { ContentHandler } from "../http/content-handler.js";
import { ownResponseHead } from "../http/own-response.js";
import { sendWhole } from "../http/response-writer.js";
import { serverFigures } from "../http/server-figures.js";

/** The content handler of a `wsgate_upstream_status` location. */
export const upstreamStatusHandler: ContentHandler = {
  name: "wsgate_upstream_status",
  claims: ({ location }) => location?.upstreamStatus === true,
  handle: (r, flow) => {
    serverFigures(flow.connectionStats(), flow.upstreams).then(
      (figures) => {
        const body = Buffer.from(`${JSON.stringify(figures.upstreams, null, 2)}\n`);
        const head = ownResponseHead(r, { status: 200, contentType: "application/json", contentLength: body.length });
        sendWhole(r, 200, head, body, (req, keepAlive) => flow.finalize(req, keepAlive));
      },
      (err: unknown) => flow.crash(r, err),
    );
  },
};
