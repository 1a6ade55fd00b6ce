/**
 * ngx_http_autoindex_module's handler: a URI ending in "/" that the index
 * module found no file for is listed when `autoindex on` (GET and HEAD only).
 * Names starting with "." are left out; each entry is stat()ed (a dangling
 * symbolic link lstat()ed) for its type, size and time; the listing is sent
 * in one piece without a length (chunked to an HTTP/1.1 client), as nginx
 * sends it. A directory that cannot be opened is nginx's 404, 403 or 500 with
 * its "opendir() … failed" line.
 */

import { lstat, readdir, stat, type Dirent, type Stats } from "node:fs";
import { ownResponseHead } from "../http/own-response.js";
import type { HttpRequest } from "../http/request.js";
import type { BodyEnd } from "../http/response-writer.js";
import { bodyWriter } from "../http/rate-limit.js";
import {
  checkCallback,
  htmlListing,
  jsonListing,
  sortEntries,
  xmlListing,
  type ListingEntry,
} from "./autoindex-listing.js";
import { connectionOf, discardBody, systemErrorText, type StaticServices } from "./services.js";

/** Whether the autoindex handler takes the request (ngx_http_autoindex_handler's first checks). */
export function autoindexApplies(r: HttpRequest): boolean {
  return r.loc.autoindex && (r.method === "GET" || r.method === "HEAD");
}

const CONTENT_TYPES = {
  html: "text/html",
  json: "application/json",
  jsonp: "application/javascript",
  // The xml listing sets its own charset (r->headers_out.charset).
  xml: "text/xml; charset=utf-8",
} as const;

/** List the directory `dir` (the mapped path, ending in "/"). */
export async function serveAutoindex(r: HttpRequest, services: StaticServices, dir: string): Promise<void> {
  discardBody(r);
  const log = (level: "info" | "error" | "crit", message: string): void =>
    services.errorLogFor(r).log(level, message, r.logContext());
  const path = dir.length > 1 ? dir.slice(0, -1) : dir;
  let format = r.loc.autoindexFormat;
  let callback: string | undefined;
  if (format === "jsonp") {
    callback = callbackArgument(r.args);
    const refused = callback === undefined ? undefined : checkCallback(callback);
    if (refused !== undefined) {
      log("info", refused);
      services.respondError(r, 400);
      return;
    }
    if (callback === undefined || callback === "") format = "json";
  }
  const listed = await readDirectory(path);
  if ("error" in listed) {
    const code = listed.error.code ?? "";
    const notFound = code === "ENOENT" || code === "ENOTDIR" || code === "ENAMETOOLONG";
    const status = notFound ? 404 : code === "EACCES" ? 403 : 500;
    log(status === 500 ? "crit" : "error", `opendir() "${path}" failed (${systemErrorText(listed.error)})`);
    services.respondError(r, status);
    return;
  }
  const entries = await describeEntries(path, listed.names, log);
  if (connectionOf(r).socket.destroyed) return;

  const version = r.head.version;
  const head = r.method === "HEAD";
  const chunked = !head && version >= 1001 && r.loc.chunkedTransferEncoding;
  const bodyEnd: BodyEnd = head || chunked ? "framed" : "close";
  const text = ownResponseHead(r, {
    status: 200,
    contentType: CONTENT_TYPES[format],
    contentLength: undefined,
    chunked,
    bodyEnd,
  });
  r.status = 200;
  r.headerBytes = text.text.length;
  const connection = connectionOf(r);
  connection.setIdleTimeout(r.loc.sendTimeoutMs);
  connection.write(text.text);
  if (entries === undefined) {
    // A failure once the head is out (nginx sent it before reading): the connection is closed.
    connection.destroy();
    services.finalize(r, false);
    return;
  }
  if (head) {
    services.finalize(r, text.keepAlive);
    return;
  }
  sortEntries(entries);
  const body =
    format === "html"
      ? htmlListing(entries, {
          uri: Buffer.from(r.uri, "latin1"),
          utf8: utf8Charset(r.responseHeaders),
          exactSize: r.loc.autoindexExactSize,
          gmtoffMinutes: r.loc.autoindexLocaltime ? -new Date().getTimezoneOffset() : 0,
        })
      : format === "xml"
        ? xmlListing(entries)
        : jsonListing(entries, format === "jsonp" ? callback : undefined);
  const parts = chunked ? [Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")] : [body];
  const out = bodyWriter(r, connection.socket, () => undefined);
  out.write(parts);
  out.whenFlushed(() => services.finalize(r, text.keepAlive));
}

/** $arg_callback (ngx_http_arg): the first "callback=" of the query string, not decoded. */
function callbackArgument(args: string): string | undefined {
  for (const pair of args.split("&")) {
    const eq = pair.indexOf("=");
    if (eq !== -1 && pair.slice(0, eq).toLowerCase() === "callback") return pair.slice(eq + 1);
  }
  return undefined;
}

/** nginx looks for the listing's charset on the response: utf-8 measures names in characters. */
function utf8Charset(headers: ReadonlyArray<readonly [string, string]> | undefined): boolean {
  const type = headers?.find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? "";
  return /;\s*charset=utf-8$/i.test(type);
}

function readDirectory(path: string): Promise<{ names: Dirent<Buffer>[] } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) =>
    // The configuration and the URI are byte strings (latin1): the directory's name is those bytes.
    readdir(Buffer.from(path, "latin1"), { withFileTypes: true, encoding: "buffer" }, (error, names) =>
      resolve(error ? { error } : { names }),
    ),
  );
}

function statOf(fn: typeof stat, path: Buffer): Promise<{ err?: NodeJS.ErrnoException; stats?: Stats }> {
  return new Promise((resolve) => fn(path, (err, stats) => resolve(err ? { err } : { stats })));
}

/**
 * The entries with their stat() facts, without dot names; undefined when one
 * fails as nginx gives up on (after logging it). One unreadable (EACCES) is skipped.
 */
async function describeEntries(
  path: string,
  names: Dirent<Buffer>[],
  log: (level: "crit", message: string) => void,
): Promise<ListingEntry[] | undefined> {
  const base = Buffer.from(path.endsWith("/") ? path : path + "/", "latin1");
  const visible = names.filter((dirent) => dirent.name[0] !== 0x2e);
  const facts = await Promise.all(
    visible.map(async (dirent) => {
      const full = Buffer.concat([base, dirent.name]);
      const found = await statOf(stat, full);
      if (!found.err) return { dirent, stats: found.stats! };
      const code = found.err.code ?? "";
      if (code !== "ENOENT" && code !== "ELOOP") {
        log("crit", `stat() "${full.toString("latin1")}" failed (${systemErrorText(found.err)})`);
        return code === "EACCES" ? "skip" : "fail";
      }
      const link = await statOf(lstat, full);
      if (link.err) {
        log("crit", `lstat() "${full.toString("latin1")}" failed (${systemErrorText(link.err)})`);
        return "fail";
      }
      return { dirent, stats: link.stats! };
    }),
  );
  const entries: ListingEntry[] = [];
  for (const fact of facts) {
    if (fact === "fail") return undefined;
    if (fact === "skip") continue;
    // The type is stat()'s (a link to a directory is a directory), a dangling link's lstat()'s ("other").
    const { dirent, stats } = fact;
    entries.push({
      name: dirent.name,
      dir: stats.isDirectory(),
      file: stats.isFile(),
      mtime: Math.floor(stats.mtimeMs / 1000),
      size: stats.size,
    });
  }
  return entries;
}
