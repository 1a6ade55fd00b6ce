/**
 * The static module's handlers for the content-handler table
 * (src/http/content-handler.ts): stub_status, the generic content phase
 * (index for a URI ending in "/", else the file) that serves every location
 * no other handler claims, and the try-files phase before them.
 */

import type { ContentHandler, TryFilesPhase } from "../http/content-handler.js";
import type { HttpRequest } from "../http/request.js";
import { serveIndex } from "./index-file.js";
import { serveFile, staticMethod } from "./serve-file.js";
import { discardBody, type StaticServices } from "./services.js";
import { serveStubStatus } from "./stub-status.js";
import { runTryFiles, tryFilesOf } from "./try-files.js";

/** stub_status, in a location or (where no location matched) the server. */
export const stubStatusHandler: ContentHandler = {
  name: "stub_status",
  claims: ({ location, server }) => (location ? location.stubStatus : server.stubStatus) === true,
  handle: serveStubStatus,
};

/** nginx's generic content phase: the index module for a URI ending in "/", else the static module. */
export const staticHandler: ContentHandler = {
  name: "static",
  claims: () => true,
  handle: serveStatic,
};

/** try_files, where the location (or the server, where no location matched) has it. */
export const tryFilesPhase: TryFilesPhase = (r, flow, next) => {
  const tryFiles = tryFilesOf(r);
  if (!tryFiles) return false;
  runTryFiles(r, tryFiles, flow, next).catch((err: unknown) => internalError(r, flow, err));
  return true;
};

function serveStatic(r: HttpRequest, services: StaticServices): void {
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
