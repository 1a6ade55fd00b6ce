/**
 * The "relay" phase (ngx_http_upstream_send_response, unbuffered): the
 * client gets the response head as proxy_redirect, add_header and the header
 * filter make it, then the body as it comes, re-framed for the client
 * (chunked coding to an HTTP/1.1 client when the upstream gave no length),
 * with back-pressure both ways; the end says how the body ended and whether
 * the client connection may stay open.
 */

import type { LocConf } from "../config/model.js";
import type { HttpRequest } from "../http/request.js";
import { LAST_CHUNK, encodeChunk } from "./chunked.js";
import type { ProxyContext } from "./context.js";
import {
  readResponseBody,
  responseFraming,
  writeParts,
  type BodyOutcome,
  type ResponseFraming,
} from "./response-body.js";
import type { ResponseHead } from "./response-head.js";
import { buildClientHead } from "./response-headers.js";
import { adjustResponseHead } from "./response-rewrite.js";
import type { Guard, UpstreamAttempt } from "./upstream-attempt.js";

export interface RelayEnd {
  readonly outcome: BodyOutcome;
  /** The response head (whether the upstream connection may be cached reads it). */
  readonly head: ResponseHead;
  readonly framing: ResponseFraming;
  /** The client connection may wait for another request. */
  readonly keepAlive: boolean;
  /** The response's last bytes to the client (the last chunk when re-chunked). */
  finishClient(): void;
}

export function relayResponse(
  ctx: ProxyContext,
  attempt: UpstreamAttempt,
  upstreamHead: ResponseHead,
  rest: Buffer | undefined,
  guard: Guard,
  ended: (end: RelayEnd) => void,
): void {
  const { r, connection: client } = ctx;
  const loc = ctx.location.loc;
  const changes = adjustResponseHead(r, ctx.location, upstreamHead);
  const head = changes.head;
  const framing = responseFraming(head, r.method);
  // nginx's chunked filter leaves responses under 200 alone; its header filter says "Connection: upgrade" to a 101.
  const clientChunked =
    head.status >= 200 &&
    framing.kind !== "length" &&
    framing.kind !== "none" &&
    r.head.version >= 1001 &&
    loc.chunkedTransferEncoding;
  const keepAlive = relayKeepAlive(r, loc, framing, clientChunked, head.status);
  const { head: text, headers } = buildClientHead(
    head,
    loc,
    {
      chunked: clientChunked,
      keepAlive,
      upgrade: head.status === 101,
      keepAliveHeader: loc.keepaliveHeaderSeconds !== undefined ? `timeout=${loc.keepaliveHeaderSeconds}` : undefined,
    },
    changes,
  );
  r.status = head.status;
  r.responseHeaders = headers;
  r.headerBytes = text.length;
  client.setIdleTimeout(loc.sendTimeoutMs);
  // The head and the body bytes read with it leave in one write (one writev), not one each.
  client.socket.cork();
  process.nextTick(() => client.socket.uncork());
  client.write(text);
  const socket = attempt.socket;
  const resumeUpstream = guard(() => void socket.resume());
  client.socket.on("drain", resumeUpstream);
  const send = guard((data: Buffer): void => {
    const ok = clientChunked ? writeParts(client.socket, encodeChunk(data)) : client.write(data);
    if (!ok) socket.pause();
  });
  const onEnd = guard((outcome: BodyOutcome): void => {
    client.socket.off("drain", resumeUpstream);
    ended({
      outcome,
      head,
      framing,
      keepAlive,
      finishClient: () => void (clientChunked && client.write(LAST_CHUNK)),
    });
  });
  readResponseBody(socket, framing, rest, send, onEnd);
}

/**
 * Whether the client connection stays open after a proxied response: the
 * request allows it (keep-alive asked, not lost to an error, keepalive_timeout
 * not 0, keepalive_requests not reached) and the client can tell where the
 * body ends without a close.
 */
export function relayKeepAlive(
  r: HttpRequest,
  loc: LocConf,
  framing: ResponseFraming,
  clientChunked: boolean,
  status: number,
): boolean {
  return (
    requestKeepsAlive(r, loc) &&
    (framing.kind === "length" || framing.kind === "none" || clientChunked || unaskedInterim(status))
  );
}

/** The request's own part of the keep-alive rule (what http/keep-alive.ts's keepAliveAllowed(r) decides). */
function requestKeepsAlive(r: HttpRequest, loc: LocConf): boolean {
  return (
    r.facts.keepAlive && !r.keepAliveLost && loc.keepaliveTimeoutMs > 0 && r.connection.requests < loc.keepaliveRequests
  );
}

/**
 * A 1xx other than 101 stays "keep-alive" as nginx has it (its chunked filter leaves responses under 200
 * alone and keeps r->keepalive): after an unasked 100 Continue the final response, passed on as the body,
 * carries the framing the client reads.
 */
function unaskedInterim(status: number): boolean {
  return status < 200 && status !== 101;
}
