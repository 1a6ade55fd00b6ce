/**
 * ngx_http_gzip_static_module: with `gzip_static on` a GET or HEAD for FILE
 * is answered with FILE.gz, as it is on disk, when the client accepts gzip
 * (ngx_http_gzip_ok); `always` sends it to every client. The file's own
 * validators and length are the .gz's, its type the URI's, and
 * `Content-Encoding: gzip` follows its ETag; it is sent whole (no ranges).
 * Under `on`, where a FILE.gz exists the response is marked for `Vary:
 * Accept-Encoding` (gzip_vary), whichever file is sent. Without a FILE.gz (or when it cannot be opened) FILE is served as
 * usual.
 */

import { close, constants, fstat, open, type Stats } from "node:fs";
import { gzipAccepted } from "../http/gzip-filter.js";
import type { HttpRequest } from "../http/request.js";
import { systemErrorText, type StaticServices } from "./services.js";

/** What gzip_static leaves to the file handler. */
export interface PrecompressedChoice {
  /** A FILE.gz exists: the response gets gzip_vary's header even when FILE is sent. */
  readonly varyMarked: boolean;
  /** The open FILE.gz to send, or undefined to send FILE. */
  readonly file?: { readonly fd: number; readonly stats: Stats } | undefined;
}

/** Whether gzip_static has anything to do for `r`. */
export function gzipStaticApplies(r: HttpRequest): boolean {
  return r.loc.gzipStatic !== "off" && (r.method === "GET" || r.method === "HEAD");
}

/** ngx_http_gzip_static_handler(): look for `path`.gz; `then` gets the choice (once). */
export function choosePrecompressed(
  r: HttpRequest,
  services: StaticServices,
  path: string,
  then: (choice: PrecompressedChoice) => void,
): void {
  const accepted = r.loc.gzipStatic === "always" || gzipAccepted(r, []);
  if (!accepted && !r.loc.gzipVary) {
    then({ varyMarked: false });
    return;
  }
  const gzPath = path + ".gz";
  open(gzPath, constants.O_RDONLY | constants.O_NONBLOCK, (openError, fd) => {
    if (openError) {
      const code = openError.code ?? "";
      if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "ENAMETOOLONG") {
        const level = code === "EACCES" || code === "ELOOP" || code === "EMLINK" ? "error" : "crit";
        services.errorLogFor(r).log(level, `open() "${gzPath}" failed (${systemErrorText(openError)})`, r.logContext());
      }
      then({ varyMarked: false });
      return;
    }
    // Only `on` marks the response: `always` does not depend on the request.
    const varyMarked = r.loc.gzipStatic === "on";
    fstat(fd, (statError, stats) => {
      // A FILE.gz that is not a regular file (a directory) leaves FILE to the static handler.
      if (statError || !accepted || !stats.isFile()) {
        close(fd, () => undefined);
        then({ varyMarked: varyMarked && !statError });
        return;
      }
      then({ varyMarked, file: { fd, stats } });
    });
  });
}
