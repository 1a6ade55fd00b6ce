/**
 * What every phase of a proxied request works with: the request and its
 * client connection, the location and its proxy_pass, the upstream group, and
 * the services of the request flow (logs, error pages, the end of the
 * request). One object, passed to each phase, as Pingora's per-request context.
 */

import type { LocationConf, LogLevel, ProxyPass } from "../config/model.js";
import type { ClientConnection } from "../http/connection.js";
import type { HttpRequest } from "../http/request.js";
import type { ErrorLog } from "../log/error-log.js";
import type { UpstreamGroup } from "../upstream/group.js";
import { upstreamUri } from "./upstream-request.js";

export interface ProxyServices {
  /** The error log in force for a request (its location's error_log, else the main one). */
  errorLogFor(r: HttpRequest): ErrorLog;
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** Send nginx's error page for `status` and end the request. */
  respondError(r: HttpRequest, status: number): void;
  /** The response is complete: log it, keep or close the connection. */
  finalize(r: HttpRequest, keepAlive: boolean): void;
  /** An upgraded connection ended: log it. */
  finalizeTunnel(r: HttpRequest): void;
  /**
   * A bug: something the proxy ran for this request threw. The upstream side
   * is already let go; log an alert, close the client connection, log the request.
   */
  crash(r: HttpRequest, err: unknown): void;
  /** Whether any variable reads response headers ($sent_http_…, $upstream_http_…) after the response. */
  readonly keepsResponseHeaders: boolean;
  /** The request headers some variable reads (variable-style names); a tunnel keeps only these. */
  readonly requestHeadersRead: ReadonlySet<string>;
}

export interface ProxyContext {
  readonly r: HttpRequest;
  readonly connection: ClientConnection;
  readonly location: LocationConf;
  readonly pass: ProxyPass;
  readonly group: UpstreamGroup;
  readonly services: ProxyServices;
}

/** Log a line about the request, naming the upstream URL when one is given (nginx's ", upstream: …"). */
export function logFor(ctx: ProxyContext, level: LogLevel, message: string, upstreamUrl?: string): void {
  ctx.services.errorLogFor(ctx.r).log(level, message, ctx.r.logContext(undefined, upstreamUrl));
}

/** The upstream URL error-log lines name: the try's address, or the group's name before any try. */
export function upstreamUrlFor(ctx: ProxyContext, addr: string | undefined, unixPeer: boolean): string {
  const { r, pass, location } = ctx;
  // nginx separates a unix socket's path from the URI with a ":", as proxy_pass writes it.
  const separator = unixPeer ? ":" : "";
  return `${pass.scheme}://${addr ?? pass.upstream}${separator}${upstreamUri(r, pass, location)}`;
}
