/**
 * The try-files and content phases for wsgate's own handlers, in nginx's
 * order: try_files first (it may change the URI or redirect), then the
 * location's handler — proxy_pass (run by the flow through `proxy`),
 * stub_status — else index for a URI ending in "/", else the static file.
 */

import type { HttpRequest } from "../http/request.js";
import { serveIndex } from "./index-file.js";
import { serveFile, staticMethod } from "./serve-file.js";
import { discardBody, type StaticServices } from "./services.js";
import { serveStubStatus } from "./stub-status.js";
import { runTryFiles, tryFilesOf } from "./try-files.js";

/** Run try_files (when set), then `content` (for a proxy_pass location) or the static handlers. */
export function contentPhase(r: HttpRequest, services: StaticServices, proxy: () => boolean): void {
  r.reportError ??= (level, message, context) => services.errorLogFor(r).log(level, message, context);
  const tryFiles = tryFilesOf(r);
  const content = (): void => {
    if (!proxy()) serveStatic(r, services);
  };
  if (!tryFiles) {
    content();
    return;
  }
  runTryFiles(r, tryFiles, services, content).catch((err: unknown) => internalError(r, services, err));
}

function serveStatic(r: HttpRequest, services: StaticServices): void {
  const stubStatus = r.location ? r.location.stubStatus : r.server.stubStatus;
  if (stubStatus) {
    serveStubStatus(r, services);
    return;
  }
  if (r.uri.endsWith("/") && staticMethod(r.method)) {
    serveIndex(r, services).catch((err: unknown) => internalError(r, services, err));
    return;
  }
  if (r.uri.endsWith("/")) {
    // The index module declines other methods; the static handler refuses them.
    discardBody(r);
    services.respondError(r, 405);
    return;
  }
  serveFile(r, services);
}

function internalError(r: HttpRequest, services: StaticServices, err: unknown): void {
  services.errorLogFor(r).log("alert", `static handler failed: ${String(err)}`, r.logContext());
  if (r.status === 0) services.respondError(r, 500);
}
