/**
 * The content phase's handlers, as nginx's clcf->handler: each module above
 * http (proxy, stub_status, wsgate_upstream_status, the static files) says
 * which locations it serves, and the table, handed to the request flow by the
 * serving process, finds a location's handler once and keeps it. A location
 * no handler claims is served by the fallback (nginx's generic content phase:
 * index, then the static file). try_files, which runs before the content
 * handler in any location that has it, is registered the same way.
 */

import type { LocationConf, ServerConf } from "../config/model.js";
import type { ErrorLog } from "../log/error-log.js";
import type { UpstreamGroup } from "../upstream/group.js";
import type { HttpRequest } from "./request.js";

/** stub_status's figures. */
export interface ConnectionStats {
  readonly active: number;
  readonly accepted: number;
  readonly handled: number;
  readonly requests: number;
  readonly reading: number;
  readonly writing: number;
  readonly waiting: number;
}

export interface ErrorExtras {
  /** Headers of the response's own list (a 416's Content-Range). */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** What a content handler may ask of the request flow. */
export interface ContentFlow {
  /** nginx's special response: the error_page for `status` if any, else nginx's page; ends the request. */
  respondError(r: HttpRequest, status: number, extras?: ErrorExtras): void;
  /** The response is complete: log it, keep or close the connection. */
  finalize(r: HttpRequest, keepAlive: boolean): void;
  /** An upgraded connection ended: log it. */
  finalizeTunnel(r: HttpRequest): void;
  /** A throw in the handler's own callbacks (its resources already released): alert, close, log. */
  crash(r: HttpRequest, err: unknown): void;
  /** The error log in force for a request (its location's error_log, else the main one). */
  errorLogFor(r: HttpRequest): ErrorLog;
  /** ngx_http_internal_redirect(): a new URI, its location found again, the phases run again. */
  internalRedirect(r: HttpRequest, uri: string, args: string): void;
  /** ngx_http_named_location(): the same for `@name`, URI unchanged. */
  namedLocation(r: HttpRequest, name: string): void;
  connectionStats(): ConnectionStats;
  readonly upstreams: ReadonlyMap<string, UpstreamGroup>;
  /** Whether any variable reads response headers ($sent_http_…, $upstream_http_…) after the response. */
  readonly keepsResponseHeaders: boolean;
  /** The request headers some variable reads (variable-style names); a tunnel keeps only these. */
  readonly requestHeadersRead: ReadonlySet<string>;
}

/** Where a request's content comes from: the location it matched, or the server where none did. */
export interface ContentScope {
  readonly location: LocationConf | undefined;
  readonly server: ServerConf;
}

export interface ContentHandler {
  /** The directive that sets it (proxy_pass, stub_status …): names the handler in the table. */
  readonly name: string;
  /** Whether the scope's configuration asks for this handler. */
  claims(scope: ContentScope): boolean;
  /** Answer the request, through `flow`'s writer and finisher. */
  handle(r: HttpRequest, flow: ContentFlow): void;
}

/** ngx_http_core_try_files_phase(): undefined when the scope has no try_files; else runs it, then `next`. */
export type TryFilesPhase = (r: HttpRequest, flow: ContentFlow, next: () => void) => boolean;

export class ContentHandlers {
  private readonly byName = new Map<string, ContentHandler>();
  /** Each scope's handler, found on its first request. */
  private readonly chosen = new WeakMap<LocationConf | ServerConf, ContentHandler>();

  constructor(
    handlers: readonly ContentHandler[],
    private readonly fallback: ContentHandler,
    private readonly tryFiles: TryFilesPhase = () => false,
  ) {
    for (const handler of handlers) {
      if (this.byName.has(handler.name)) throw new Error(`content handler "${handler.name}" registered twice`);
      this.byName.set(handler.name, handler);
    }
  }

  /** The handler registered as `name`. */
  get(name: string): ContentHandler | undefined {
    return this.byName.get(name);
  }

  /** The scope's handler: the first registered that claims it, else the fallback. */
  handlerFor(scope: ContentScope): ContentHandler {
    const key = scope.location ?? scope.server;
    let handler = this.chosen.get(key);
    if (handler === undefined) {
      handler = [...this.byName.values()].find((candidate) => candidate.claims(scope)) ?? this.fallback;
      this.chosen.set(key, handler);
    }
    return handler;
  }

  /** The try-files phase, then the content phase. */
  run(r: HttpRequest, flow: ContentFlow): void {
    const content = (): void => this.handlerFor(r).handle(r, flow);
    if (!this.tryFiles(r, flow, content)) content();
  }
}
