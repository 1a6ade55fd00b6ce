/**
 * The response writer: the status line, the Connection and Keep-Alive lines
 * and the keep-alive decision of every answer wsgate makes — its own
 * (`return`, error pages, files, stub_status, wsgate_upstream_status, built
 * by own-response.ts) and an upstream's (response-headers.ts). The decision
 * is keep-alive.ts's one rule; what is written for it is nginx's header
 * filter: "Connection: keep-alive" and, with keepalive_timeout's second
 * value, "Keep-Alive: timeout=N" when r->keepalive holds, "Connection:
 * upgrade" on a 101, else "Connection: close".
 */

import type { ClientConnection } from "./connection.js";
import { bodyEndsWithClose, keepAliveAllowed } from "./keep-alive.js";
import type { HttpRequest } from "./request.js";
import { statusLine } from "./status.js";
import { gzipWhole } from "./gzip-body.js";

const CRLF = "\r\n";

/** How the client learns where the body ends. */
export type BodyEnd =
  /** A Content-Length, chunks, or no body at all. */
  | "framed"
  /** Only the close tells: HTTP/1.0 or chunked_transfer_encoding off with no length. */
  | "close"
  /** A 101: the connection becomes a tunnel. */
  | "upgrade";

export interface ConnectionLines {
  /** r->keepalive once the head is written: whether the connection may serve another request. */
  readonly keepAlive: boolean;
  readonly lines: Array<[string, string]>;
}

/** The header filter's Connection line (and Keep-Alive) for `r`, with the chunked filter's word on `end`. */
export function connectionLines(r: HttpRequest, end: BodyEnd = "framed"): ConnectionLines {
  // After a 101 the connection carries a tunnel, or what follows until the upstream closes: never another request.
  if (end === "upgrade") return { keepAlive: false, lines: [["Connection", "upgrade"]] };
  if (end === "close") bodyEndsWithClose(r);
  const keepAlive = keepAliveAllowed(r);
  return { keepAlive, lines: linesFor(keepAlive, r.loc.keepaliveHeaderSeconds) };
}

/** The lines for a decision already made (`keepalive_timeout`'s second value as `headerSeconds`). */
export function linesFor(keepAlive: boolean, headerSeconds: number | undefined): Array<[string, string]> {
  if (!keepAlive) return [["Connection", "close"]];
  if (headerSeconds === undefined) return [["Connection", "keep-alive"]];
  return [
    ["Connection", "keep-alive"],
    ["Keep-Alive", `timeout=${headerSeconds}`],
  ];
}

/** nginx's status line for a code ("HTTP/1.1 404 Not Found"). */
export function ownStatusLine(status: number): string {
  return `HTTP/1.1 ${statusLine(status)}`;
}

/** The head as it goes on the wire: the status line, the headers in order, the empty line. */
export function headText(statusLineText: string, headers: ReadonlyArray<readonly [string, string]>): string {
  let text = statusLineText + CRLF;
  for (const [name, value] of headers) text += `${name}: ${value}${CRLF}`;
  return text + CRLF;
}

/** What ends a response: the access-log line and the connection's next step (RequestFlow.finalize). */
export type FinishResponse = (r: HttpRequest, keepAlive: boolean) => void;

/**
 * A whole response made by wsgate: the head (recorded for the access log),
 * the body unless the request is HEAD, then the end of the request. The
 * body goes in the head's write: one segment for a small answer.
 */
export function sendWhole(
  r: HttpRequest,
  status: number,
  head: { readonly text: string; readonly keepAlive: boolean; readonly gzip?: boolean; readonly chunked?: boolean },
  body: string | Buffer | undefined,
  finish: FinishResponse,
): void {
  const connection = r.connection as ClientConnection;
  r.status = status;
  r.headerBytes = head.text.length;
  if (head.gzip && r.method !== "HEAD") {
    const compressed = gzipWhole(
      r.loc,
      typeof body === "string" ? Buffer.from(body, "latin1") : (body ?? Buffer.alloc(0)),
    );
    r.gzipCounts = compressed.counts;
    connection.write(head.text);
    if (head.chunked) {
      connection.write(`${compressed.data.length.toString(16)}${CRLF}`);
      connection.write(compressed.data);
      connection.write(`${CRLF}0${CRLF}${CRLF}`);
    } else connection.write(compressed.data);
    finish(r, head.keepAlive);
    return;
  }
  if (body === undefined || body.length === 0 || r.method === "HEAD") connection.write(head.text);
  else if (typeof body === "string") connection.write(head.text + body);
  else {
    connection.write(head.text);
    connection.write(body);
  }
  finish(r, head.keepAlive);
}
