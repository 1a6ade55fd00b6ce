/**
 * ngx_http_index_module for a URI that ends in "/": the first `index` name
 * that exists is served through an internal redirect to URI + name; an
 * absolute name is a redirect without looking. When none exists, the
 * directory is listed (autoindex on, GET and HEAD), else the answer is
 * nginx's 403 "directory index of … is forbidden"; a 404 when the directory
 * itself is missing.
 */

import { stat, type Stats } from "node:fs";
import type { HttpRequest } from "../http/request.js";
import { mapUriToPath } from "../http/paths.js";
import { autoindexApplies, serveAutoindex } from "./autoindex.js";
import { discardBody, systemErrorText, type StaticServices } from "./services.js";

function statOf(path: string): Promise<{ err?: NodeJS.ErrnoException; stats?: Stats }> {
  return new Promise((resolve) => stat(path, (err, stats) => resolve(err ? { err } : { stats })));
}

export async function serveIndex(r: HttpRequest, services: StaticServices): Promise<void> {
  const log = (level: "error" | "crit" | "alert", message: string): void =>
    services.errorLogFor(r).log(level, message, r.logContext());
  const { path: dir } = mapUriToPath(r);
  let dirTested = false;
  for (const index of r.loc.index) {
    const name = index.value ? index.value.evaluate(r) : index.name;
    if (name.startsWith("/")) {
      services.internalRedirect(r, name, r.args);
      return;
    }
    const path = dir + name;
    const { err } = await statOf(path);
    if (!err) {
      services.internalRedirect(r, r.uri + name, r.args);
      return;
    }
    const code = err.code ?? "";
    if (code === "ENOTDIR" || code === "ENAMETOOLONG" || code === "EACCES") {
      indexError(r, services, path, err);
      return;
    }
    if (!dirTested) {
      // The directory itself: its absence is a 404 naming the index file.
      const dirPath = dir.length > 1 && dir.endsWith("/") ? dir.slice(0, -1) : dir;
      const found = await statOf(dirPath);
      if (found.err) {
        const dirCode = found.err.code ?? "";
        if (dirCode === "ENOENT") {
          indexError(r, services, path, found.err);
          return;
        }
        if (dirCode !== "EACCES") {
          log("crit", `stat() "${dirPath}" failed (${systemErrorText(found.err)})`);
          answer(r, services, 500);
          return;
        }
      } else if (!found.stats!.isDirectory()) {
        log("alert", `"${dirPath}" is not a directory`);
        answer(r, services, 500);
        return;
      }
      dirTested = true;
    }
    if (code === "ENOENT") continue;
    log("crit", `stat() "${path}" failed (${systemErrorText(err)})`);
    answer(r, services, 500);
    return;
  }
  // No index file: the autoindex handler is next (content handlers run in reverse module order).
  if (autoindexApplies(r)) {
    await serveAutoindex(r, services, dir);
    return;
  }
  // autoindex declined, and the static handler declines a URI ending in "/".
  log("error", `directory index of "${dir}" is forbidden`);
  answer(r, services, 403);
}

function indexError(r: HttpRequest, services: StaticServices, path: string, err: NodeJS.ErrnoException): void {
  if (err.code === "EACCES") {
    services.errorLogFor(r).log("error", `"${path}" is forbidden (${systemErrorText(err)})`, r.logContext());
    answer(r, services, 403);
    return;
  }
  if (r.loc.logNotFound) {
    services.errorLogFor(r).log("error", `"${path}" is not found (${systemErrorText(err)})`, r.logContext());
  }
  answer(r, services, 404);
}

function answer(r: HttpRequest, services: StaticServices, status: number): void {
  discardBody(r);
  services.respondError(r, status);
}
