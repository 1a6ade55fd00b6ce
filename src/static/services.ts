/**
 * What the static handlers need from the request flow (the content phase's
 * ContentFlow: nginx's error pages, the end of a request, the error log, and
 * internal redirects for index and try_files), and small helpers they share.
 */

import type { ClientConnection } from "../http/connection.js";
import type { ContentFlow } from "../http/content-handler.js";
import type { HttpRequest } from "../http/request.js";

export type { ConnectionStats, ErrorExtras } from "../http/content-handler.js";

export type StaticServices = ContentFlow;

export function connectionOf(r: HttpRequest): ClientConnection {
  return r.connection as ClientConnection;
}

/** A handler that answers itself reads the request body and drops it (ClientConnection.discardBody). */
export function discardBody(r: HttpRequest): void {
  connectionOf(r).discardBody(r.facts.framing);
}

/** What nginx appends to a message about a system error: " (2: No such file or directory)". */
export { systemErrorText } from "../core/errors.js";
