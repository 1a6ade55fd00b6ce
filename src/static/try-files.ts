/**
 * nginx's try-files phase (ngx_http_core_try_files_phase): each candidate is
 * mapped to a file under the root (or alias) and tested; the first that
 * exists, as a file or (written with a trailing "/") as a directory, becomes
 * the URI and the request goes on to the content phase. When none exists, the
 * last argument decides: `=code`, `@name`, or a URI (with its own arguments)
 * to redirect to internally.
 */

import { stat, type Stats } from "node:fs";
import type { TryFiles } from "../config/model.js";
import type { HttpRequest } from "../http/request.js";
import { documentRoot } from "../http/paths.js";
import { discardBody, systemErrorText, type StaticServices } from "./services.js";

/** try_files in force: the location's own, or the server's where no location matched (never inherited). */
export function tryFilesOf(r: HttpRequest): TryFiles | undefined {
  return r.location ? r.location.tryFiles : r.server.tryFiles;
}

/**
 * Run try_files. Calls `next()` when a candidate was chosen (r.uri may have
 * changed); otherwise answers or redirects through `services`.
 */
export async function runTryFiles(
  r: HttpRequest,
  tryFiles: TryFiles,
  services: StaticServices,
  next: () => void,
): Promise<void> {
  const root = r.loc.root;
  for (const candidate of tryFiles.candidates) {
    let name = candidate.value.evaluate(r);
    const base = documentRoot(r, root);
    const alias = root.alias;
    // A prefix location's alias stands for the location's prefix in the candidate.
    if (typeof alias === "number" && alias > 0 && name.startsWith(r.uri.slice(0, alias))) name = name.slice(alias);
    const path = base + name;
    const result = await new Promise<{ err?: NodeJS.ErrnoException; stats?: Stats }>((resolve) =>
      stat(path, (err, stats) => resolve(err ? { err } : { stats })),
    );
    if (result.err) {
      const code = result.err.code ?? "";
      if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "ENAMETOOLONG") {
        services.errorLogFor(r).log("crit", `stat() "${path}" failed (${systemErrorText(result.err)})`, r.logContext());
      }
      continue;
    }
    if (result.stats!.isDirectory() !== candidate.testDir) continue;
    if (alias === 0) r.uri = name;
    else if (alias === "regex") {
      if (!candidate.testDir) {
        r.uri = name;
        r.addUriToAlias = true;
      }
    } else r.uri = r.uri.slice(0, alias) + name;
    next();
    return;
  }
  const fallback = tryFiles.fallback;
  if ("code" in fallback) {
    discardBody(r);
    services.respondError(r, fallback.code);
    return;
  }
  const target = fallback.uri.evaluate(r);
  if (target.startsWith("@")) {
    services.namedLocation(r, target);
    return;
  }
  // ngx_http_split_args(): a URI without "?" leaves the request without arguments.
  const question = target.indexOf("?");
  if (question === -1) services.internalRedirect(r, target, "");
  else services.internalRedirect(r, target.slice(0, question), target.slice(question + 1));
}
