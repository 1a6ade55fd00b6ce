/**
 * What the static handlers need from the request flow: nginx's error pages,
 * the end of a request, the error log, and internal redirects (index,
 * try_files) that run the location search and the content phase again.
 */

import type { ClientConnection } from "../http/connection.js";
import type { HttpRequest } from "../http/request.js";
import type { ErrorLog } from "../log/error-log.js";

export interface ErrorExtras {
  /** Headers of the response's own list (a 416's Content-Range). */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

export interface StaticServices {
  respondError(r: HttpRequest, status: number, extras?: ErrorExtras): void;
  finalize(r: HttpRequest, keepAlive: boolean): void;
  errorLogFor(r: HttpRequest): ErrorLog;
  /** ngx_http_internal_redirect(): a new URI, its location found again, the phases run again. */
  internalRedirect(r: HttpRequest, uri: string, args: string): void;
  /** ngx_http_named_location(): the same for `@name`, URI unchanged. */
  namedLocation(r: HttpRequest, name: string): void;
  /** stub_status's figures. */
  connectionStats(): ConnectionStats;
}

export interface ConnectionStats {
  readonly active: number;
  readonly accepted: number;
  readonly handled: number;
  readonly requests: number;
  readonly reading: number;
  readonly writing: number;
  readonly waiting: number;
}

export function connectionOf(r: HttpRequest): ClientConnection {
  return r.connection as ClientConnection;
}

/** A handler that answers itself reads the request body and drops it (ClientConnection.discardBody). */
export function discardBody(r: HttpRequest): void {
  connectionOf(r).discardBody(r.facts.framing);
}

/** What nginx appends to a message about a system error: " (2: No such file or directory)". */
export { systemErrorText } from "../config/errors.js";
