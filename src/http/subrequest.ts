/**
 * Subrequests, after ngx_http_subrequest(): an internal GET for a URI of the
 * parent's server, with the parent's headers, request line and client, run
 * through the usual phases (an `internal` location may serve it; the
 * preaccess and access phases are skipped, as ngx_http_core_access_phase()
 * skips them for r != r->main) and the location's content handler
 * (proxy_pass, `return`, static files …), its response read back instead of
 * sent: the status, the headers and, when asked for, the body. It has no
 * body of its own (auth_request's "fake request body": nothing is read from
 * the client, whose body stays for the main request; the proxy still
 * announces the parent's Content-Length, as nginx does) and is logged only
 * where log_subrequest is on.
 *
 * Why an in-memory socket rather than a writer that captures: every content
 * handler writes its answer to the request's connection (the proxy's
 * response relay, its tunnels, sendWhole, the static files' streams), and an
 * HTTP/2 stream already reuses all of them through a Duplex that stands for
 * the client (v2/stream-socket.ts). A subrequest served the same way, on a
 * ClientConnection of its own over SubrequestSocket, goes through exactly the
 * code a client's request does — keep-alive, error pages, upstream retries,
 * the client-gone path — with no second writer to keep in step; reading the
 * head back costs a parse of a few hundred bytes.
 *
 * The parent ending first (its client gone: logged 499) closes the
 * subrequest's socket, which the engine sees as its client leaving: the
 * proxy closes the upstream connection, nothing is left behind.
 */

import type { ClientConnection, ConnectionEvents } from "./connection.js";
import { oneRequestConnection } from "./one-request-connection.js";
import { requestCounter } from "./connection-ids.js";
import { addCleanup, HttpRequest } from "./request.js";
import type { RequestHead } from "./request-head.js";
import type { RequestFacts } from "./request-headers.js";
import { SubrequestSocket } from "./subrequest-socket.js";

export interface SubrequestOptions {
  /** Keep the response body (a JWKS); otherwise it is dropped as it comes (nginx's header_only). */
  readonly body: boolean;
  /**
   * The most body bytes kept (nginx's subrequest_output_buffer_size for a subrequest in memory): past it the
   * subrequest is ended there (its upstream closed) and the result says `tooBig`. No limit when absent.
   */
  readonly bodyLimit?: number;
}

export interface SubrequestResult {
  /** The response's status; the request's own (499 when the parent's client left) when no head was written. */
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body, when asked for. */
  readonly body?: Buffer;
  /** The body went past `bodyLimit`: `body` holds what came before it. */
  readonly tooBig?: boolean;
  /** The subrequest itself: its variables ($upstream_http_…, $upstream_status, $sent_http_…) are read in it. */
  readonly request: HttpRequest;
}

/** Run a subrequest of `r` for `uri` (with `args`); the Promise settles when its response is complete. */
export type Subrequest = (
  r: HttpRequest,
  uri: string,
  args: string,
  options: SubrequestOptions,
) => Promise<SubrequestResult>;

/** What the request flow does for a subrequest: its phases and content, its crashes and aborts. */
export interface SubrequestHost extends ConnectionEvents {
  /** The phases from the server rewrite phase on, as for a client's request once its record is made. */
  runSubrequest(sr: HttpRequest): void;
}

/** Start a subrequest of `parent` on `host`'s engine. */
export function startSubrequest(
  host: SubrequestHost,
  parent: HttpRequest,
  uri: string,
  args: string,
  options: SubrequestOptions,
): Promise<SubrequestResult> {
  const socket = new SubrequestSocket(parent.connection, options.body, options.bodyLimit);
  let sr: HttpRequest | undefined;
  const events: ConnectionEvents = {
    onHead: (connection, head) => {
      sr = subrequestOf(parent, connection, head, uri, args);
      host.runSubrequest(sr);
    },
    onBadHead: (...report) => host.onBadHead(...report),
    onAbort: (connection, reason) => host.onAbort(connection, reason),
    onHeadTimeout: (connection, partial) => host.onHeadTimeout(connection, partial),
    resetsOnTimeout: () => false,
    onCrash: (connection, err, head) => host.onCrash(connection, err, head),
  };
  // One request, then the socket ends: its 'finish' says the response is complete.
  const connection = oneRequestConnection(socket, parent.server.srv, events, 0, parent.connection);
  const hold: Held = { socket };
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      hold.socket = undefined;
      const captured = socket.response();
      const request = sr;
      // A throw before the subrequest's record was made: the check that asked fails (an alert and a 500).
      if (request === undefined) {
        reject(new Error(`the subrequest "${uri}" could not start`));
        return;
      }
      // The upstream's finalization set the connection's log action: the parent's next lines carry it.
      if (request.upstreamTries.length > 0) parent.logAction = "while sending to client";
      resolve({
        status: captured.status ?? request.status,
        headers: captured.headers,
        ...(captured.body !== undefined ? { body: captured.body } : {}),
        ...(captured.tooBig ? { tooBig: true } : {}),
        request,
      });
      if (!socket.destroyed) socket.destroy();
    };
    socket.on("error", () => undefined);
    socket.on("finish", settle);
    socket.on("close", settle);
    // A 101 would make the subrequest a tunnel: it ends at the head (and its upstream with it).
    socket.onHead = (status) => {
      if (status === 101) setImmediate(() => socket.destroy());
    };
    const head: RequestHead = {
      method: "GET",
      target: parent.requestTarget,
      requestLine: parent.requestLine,
      protocol: parent.httpVersion,
      version: parent.head.version,
      headers: parent.headers.map(([name, value]): [string, string] => [name, value]),
      length: 0,
    };
    connection.guard(() => connection.beginRequest({ kind: "head", head }));
    // ngx_http_subrequest() makes no request of the connection's: stub_status does not count it.
    requestCounter.total--;
    // The parent's client left: the subrequest's "client" leaves too.
    addCleanup(parent, closer(hold));
  });
}

/** The socket of a subrequest in flight; none once it has settled. */
interface Held {
  socket: SubrequestSocket | undefined;
}

/**
 * The parent's cleanup, made apart so that it holds nothing of the subrequest once settled: the parent may
 * live for hours (a tunnel), and its cleanups with it.
 */
function closer(hold: Held): () => void {
  return () => {
    if (hold.socket && !hold.socket.destroyed) hold.socket.destroy();
  };
}

/** The subrequest's record: the parent's server, client and headers, an internal request for `uri`. */
function subrequestOf(
  parent: HttpRequest,
  connection: ClientConnection,
  head: RequestHead,
  uri: string,
  args: string,
): HttpRequest {
  const facts: RequestFacts = {
    host: parent.facts.host,
    framing: { kind: "none" },
    keepAlive: false,
    upgrade: false,
    expectContinue: false,
  };
  const sr = new HttpRequest(
    connection,
    head,
    facts,
    uri,
    args,
    parent.unparsedUri,
    parent.server,
    undefined,
    Date.now(),
  );
  sr.parent = parent;
  sr.internal = true;
  sr.validUnparsedUri = false;
  sr.expectTested = true;
  sr.realAddress = parent.realAddress;
  sr.discardBody = parent.discardBody;
  return sr;
}
