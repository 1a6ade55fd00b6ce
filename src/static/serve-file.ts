/**
 * ngx_http_static_module with the filters a file goes through: open the file
 * the URI maps to; a directory is a 301 to the URI with a slash; then
 * not_modified (304/412), range (206/416), and the head in nginx's order —
 * Content-Type, Content-Length, Last-Modified, Connection, Keep-Alive, ETag,
 * add_header's lines, Accept-Ranges or Content-Range. As an error page (after
 * error_page) the file keeps the error's status, without Last-Modified, 304
 * or ranges. The body is read from the file as the client takes it: nothing
 * is held whole in memory, and a client that goes away closes the file.
 */

import { addedHeaders } from "../http/add-header.js";
import { LAST_CHUNK, encodeChunk } from "../core/chunked.js";
import { GzipBody } from "../http/gzip-body.js";
import { choosePrecompressed, gzipStaticApplies } from "./gzip-static.js";
import { gzipVerdict, type GzipVerdict } from "../http/gzip-filter.js";
import { ownCharsetType, ownResponseHead } from "../http/own-response.js";
import { close, createReadStream, fstat, open, constants, type ReadStream, type Stats } from "node:fs";
import type { HttpRequest } from "../http/request.js";
import { formatHttpDate } from "../vars/time.js";
import { checkPreconditions, firstHeader } from "./conditional.js";
import { contentTypeFor } from "../http/mime.js";
import { mapUriToPath } from "../http/paths.js";
import { multipart, selectRanges, type ByteRange } from "./ranges.js";
import { bodyWriter, type BodyWriter } from "../http/rate-limit.js";
import { connectionOf, discardBody, systemErrorText, type StaticServices } from "./services.js";

/** The methods the static handlers serve (ngx_http_static_handler); others get 405. */
export function staticMethod(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "POST";
}

/** ngx_http_static_handler() for a URI that does not end in "/". */
export function serveFile(r: HttpRequest, services: StaticServices): void {
  discardBody(r);
  if (!staticMethod(r.method)) {
    services.respondError(r, 405);
    return;
  }
  const { path } = mapUriToPath(r);
  if (!gzipStaticApplies(r)) {
    openFile(r, services, path, NO_MARKS);
    return;
  }
  choosePrecompressed(r, services, path, (choice) => {
    const marks = { precompressed: choice.file !== undefined, varyMarked: choice.varyMarked };
    if (choice.file) opened(r, services, path, choice.file.fd, choice.file.stats, marks);
    else openFile(r, services, path, marks);
  });
}

/** What gzip_static decided for the file handler. */
interface GzipStaticMarks {
  /** The file open is FILE.gz: its bytes go as they are, with Content-Encoding. */
  readonly precompressed: boolean;
  /** A FILE.gz exists: gzip_vary's header whatever the gzip filter says. */
  readonly varyMarked: boolean;
}

const NO_MARKS: GzipStaticMarks = { precompressed: false, varyMarked: false };

function openFile(r: HttpRequest, services: StaticServices, path: string, marks: GzipStaticMarks): void {
  open(path, constants.O_RDONLY | constants.O_NONBLOCK, (openError, fd) => {
    if (openError) {
      openFailed(r, services, path, openError);
      return;
    }
    fstat(fd, (statError, stats) => {
      if (statError) {
        close(fd, () => undefined);
        services.errorLogFor(r).log("crit", `fstat() "${path}" failed (${systemErrorText(statError)})`, r.logContext());
        services.respondError(r, 500);
        return;
      }
      opened(r, services, path, fd, stats, marks);
    });
  });
}

function openFailed(r: HttpRequest, services: StaticServices, path: string, err: NodeJS.ErrnoException): void {
  const code = err.code ?? "";
  const notFound = code === "ENOENT" || code === "ENOTDIR" || code === "ENAMETOOLONG";
  const status = notFound ? 404 : code === "EACCES" ? 403 : 500;
  if (!notFound || r.loc.logNotFound) {
    services
      .errorLogFor(r)
      .log(status === 500 ? "crit" : "error", `open() "${path}" failed (${systemErrorText(err)})`, r.logContext());
  }
  services.respondError(r, status);
}

function opened(
  r: HttpRequest,
  services: StaticServices,
  path: string,
  fd: number,
  stats: Stats,
  marks: GzipStaticMarks,
): void {
  const connection = connectionOf(r);
  if (stats.isDirectory()) {
    close(fd, () => undefined);
    // Made absolute (or not) by the header filter, as nginx's.
    r.outLocation = r.uri + "/" + (r.args !== "" ? "?" + r.args : "");
    services.respondError(r, 301);
    return;
  }
  if (!stats.isFile()) {
    close(fd, () => undefined);
    services.errorLogFor(r).log("crit", `"${path}" is not a regular file`, r.logContext());
    services.respondError(r, 404);
    return;
  }
  if (r.method === "POST") {
    close(fd, () => undefined);
    services.respondError(r, 405);
    return;
  }
  if (connection.socket.destroyed) {
    // The client left while the file was opened: nothing to send (the flow logged the request).
    close(fd, () => undefined);
    return;
  }

  const size = stats.size;
  const mtime = Math.floor(stats.mtimeMs / 1000);
  const etag = r.loc.etag ? `"${mtime.toString(16)}-${size.toString(16)}"` : undefined;
  const headers = r.headers;
  // An error page (r->err_status): every filter sees that status, so no 304, no ranges, no Accept-Ranges.
  const errStatus = r.errStatus;
  const precondition = errStatus ? "ok" : checkPreconditions(headers, { mtime, etag }, r.loc);
  if (precondition === "failed") {
    close(fd, () => undefined);
    services.respondError(r, 412);
    return;
  }
  const loc = r.loc;
  let contentType = contentTypeFor(r.uri, loc);
  const lastModified = formatHttpDate(mtime * 1000);
  let status = errStatus || 200;
  let length: number | undefined = size;
  let pieces: Piece[] = size > 0 ? [{ start: 0, end: size }] : [];
  const listed: Array<[string, string]> = [];
  let charsetFiltered = false;
  if (etag !== undefined) listed.push(["ETag", etag]);
  if (marks.precompressed) listed.push(["Content-Encoding", "gzip"]);
  // The range filter runs after add_header's (which sees 200) and adds its headers after add_header's.
  const ranged: Array<[string, string]> = [];
  // The gzip filter sees the status before the range filter makes it 206; a compressed body has no ranges.
  let verdict: GzipVerdict =
    precondition === "not-modified"
      ? "none"
      : gzipVerdict(r, { status, contentType, contentLength: size, headers: [...listed, ...addedHeaders(r, status)] });
  if (marks.varyMarked && verdict === "none") verdict = "vary";
  if (precondition === "not-modified") {
    status = 304;
    contentType = "";
    length = undefined;
    pieces = [];
  } else if (verdict === "gzip") {
    length = undefined;
  } else if (!errStatus && !marks.precompressed) {
    // gzip_static's FILE.gz is sent whole (it leaves r->allow_ranges unset).
    const outcome = selectRanges(
      firstHeader(headers, "range"),
      firstHeader(headers, "if-range"),
      size,
      { etag, mtime },
      loc.maxRanges,
    );
    if (outcome.kind === "unsatisfiable") {
      close(fd, () => undefined);
      services.respondError(r, 416, {
        headers: [...addedHeaders(r, 200, mtime), ["Content-Range", `bytes */${size}`]],
      });
      return;
    }
    if (outcome.kind === "none") ranged.push(["Accept-Ranges", "bytes"]);
    else if (outcome.kind === "disabled") {
      // Neither ranges nor Accept-Ranges.
    } else if (outcome.ranges.length === 1) {
      const range = outcome.ranges[0]!;
      status = 206;
      length = range.end - range.start;
      pieces = [range];
      ranged.push(["Content-Range", `bytes ${range.start}-${range.end - 1}/${size}`]);
    } else {
      // The charset filter ran before the range filter: the parts name the charset, the multipart type none.
      const parts = multipart(outcome.ranges, size, ownCharsetType(r, 200, contentType));
      charsetFiltered = true;
      status = 206;
      contentType = parts.contentType;
      length = parts.length;
      pieces = [];
      outcome.ranges.forEach((range, i) => pieces.push(parts.heads[i]!, range));
      pieces.push(parts.tail);
    }
  }
  const head = ownResponseHead(r, {
    status,
    contentType: contentType === "" ? undefined : contentType,
    contentLength: length,
    lastModified,
    listed,
    addHeaderStatus: status === 206 ? 200 : status,
    afterAdded: ranged,
    gzip: verdict,
    charsetFiltered,
  });
  r.status = status;
  r.headerBytes = head.text.length;
  connection.setIdleTimeout(loc.sendTimeoutMs);
  connection.write(head.text);
  if (r.method === "HEAD" || status === 304) pieces = [];
  // An empty file still becomes a gzip stream (nginx's last buffer goes through the gzip filter).
  const compress = head.gzip && r.method !== "HEAD" ? { size, chunked: head.chunked === true } : undefined;
  sendPieces(r, services, fd, pieces, head.keepAlive, compress);
}

/**
 * The gzip filter between the file and the client, the chunked filter after it for an HTTP/1.1
 * client, and limit_rate's writer last: zlib's output waits while the limit holds bytes back.
 */
function compressedOutput(r: HttpRequest, size: number, chunked: boolean, out: BodyWriter): CompressedOutput {
  const connection = connectionOf(r);
  const body = new GzipBody(
    r.loc,
    size,
    connection.socket,
    (data) => out.write(chunked ? encodeChunk(data) : [data]),
    () => connection.socket.destroy(),
    () => out.holding,
  );
  return { body, finish: () => void (chunked && connection.write(LAST_CHUNK)) };
}

interface CompressedOutput {
  readonly body: GzipBody;
  /** The chunked filter's last chunk, once the gzip trailer is out. */
  readonly finish: () => void;
}

/** Text to write, or a byte range of the file. */
type Piece = string | ByteRange;

/** Write the pieces in order, the file's bytes as the socket takes them; then close the file and end. */
function sendPieces(
  r: HttpRequest,
  services: StaticServices,
  fd: number,
  pieces: Piece[],
  keepAlive: boolean,
  compress?: { readonly size: number; readonly chunked: boolean },
): void {
  const connection = connectionOf(r);
  const socket = connection.socket;
  let stream: ReadStream | undefined;
  let done = false;
  let finalized = false;
  const finalize = (keep: boolean): void => {
    if (finalized) return;
    finalized = true;
    services.finalize(r, keep);
  };
  // Not while limit_rate holds a piece back: the limiter resumes the file when it is out (with gzip,
  // zlib's output waits for the limit and the file for zlib's input).
  const resume = (): void => void ((!compressed && out.holding) || stream?.resume());
  const finish = (complete: boolean): void => {
    if (done) {
      // The client left while the gzip tail was still going out: end there.
      if (!complete) {
        compressed?.body.destroy();
        finalize(false);
      }
      return;
    }
    done = true;
    socket.off("drain", resume);
    stream?.destroy();
    close(fd, () => undefined);
    if (!compressed) finalize(complete && keepAlive);
    else if (!complete) {
      compressed.body.destroy();
      finalize(false);
    } else
      compressed.body.end((counts) => {
        r.gzipCounts = counts;
        // The last chunk after the trailer, once limit_rate has let the trailer out.
        out.whenFlushed(() => {
          compressed.finish();
          finalize(keepAlive);
        });
      });
  };
  connection.onAbortHandler = () => finish(false);
  // limit_rate: the file is read at the pace the limit lets the client take it.
  const out = bodyWriter(r, socket, () => (compressed ? compressed.body.outputReady() : resume()));
  const compressed = compress ? compressedOutput(r, compress.size, compress.chunked, out) : undefined;
  if (compressed) compressed.body.onDrain(resume);
  else socket.on("drain", resume);
  let index = 0;
  const next = (): void => {
    while (!done && index < pieces.length) {
      const piece = pieces[index++]!;
      if (typeof piece === "string") {
        out.write([Buffer.from(piece, "latin1")]);
        continue;
      }
      const current = createReadStream("", {
        fd,
        start: piece.start,
        end: piece.end - 1,
        autoClose: false,
        highWaterMark: 64 * 1024,
      });
      stream = current;
      current.on("data", (chunk) => {
        const ok = compressed ? compressed.body.write(chunk as Buffer) : out.write([chunk as Buffer]);
        if (!ok) current.pause();
      });
      current.on("end", () => {
        if (stream === current) stream = undefined;
        next();
      });
      current.on("error", (err) => {
        services.errorLogFor(r).log("crit", `pread() "${fdPath(r)}" failed (${systemErrorText(err)})`, r.logContext());
        finish(false);
      });
      return;
    }
    // Compressed, zlib's end drives the rest (its output may still wait for the limit); else the limit's flush.
    if (done) return;
    if (compressed) finish(true);
    else out.whenFlushed(() => finish(true));
  };
  next();
}

function fdPath(r: HttpRequest): string {
  return mapUriToPath(r).path;
}
