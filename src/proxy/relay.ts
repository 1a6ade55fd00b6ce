/**
 * The "relay" phase (ngx_http_upstream_send_response, unbuffered): the
 * client gets the response head as proxy_redirect, add_header and the header
 * filter make it, then the body as it comes, re-framed for the client
 * (chunked coding to an HTTP/1.1 client when the upstream gave no length),
 * with back-pressure both ways; the end says how the body ended and whether
 * the client connection may stay open.
 */

import { LAST_CHUNK, encodeChunk } from "../core/chunked.js";
import type { ProxyContext } from "./context.js";
import { bodyWriter } from "../http/rate-limit.js";
import { readResponseBody, responseFraming, type BodyOutcome, type ResponseFraming } from "./response-body.js";
import type { ResponseHead } from "./response-head.js";
import { proxiedHead, relayBodyEnd } from "./response-headers.js";
import { adjustResponseHead } from "./response-rewrite.js";
import { acceptAccelLimitRate, upstreamReadLimiter } from "./upstream-rate.js";
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
  done: (end: RelayEnd) => void,
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
  const {
    head: text,
    headers,
    keepAlive,
  } = proxiedHead(
    r,
    head,
    loc,
    { chunked: clientChunked, end: relayBodyEnd(head.status, framing.kind, clientChunked) },
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
  // limit_rate paces the writes to the client, proxy_limit_rate the reads from the upstream.
  acceptAccelLimitRate(r, upstreamHead);
  const readLimit = upstreamReadLimiter(
    r,
    loc,
    upstreamHead,
    () => socket.pause(),
    guard(() => void (client.socket.writableNeedDrain || out.holding || socket.resume())),
  );
  const out = bodyWriter(r, client.socket, () => resumeUpstream());
  const resumeUpstream = guard(() => void (readLimit?.holding === true || out.holding || socket.resume()));
  client.socket.on("drain", resumeUpstream);
  const send = guard((data: Buffer): void => {
    readLimit?.took(data.length);
    if (!out.write(clientChunked ? encodeChunk(data) : [data])) socket.pause();
  });
  const onEnd = guard((outcome: BodyOutcome): void => out.whenFlushed(() => ended(outcome)));
  const ended = guard((outcome: BodyOutcome): void => {
    readLimit?.stop();
    client.socket.off("drain", resumeUpstream);
    done({
      outcome,
      head,
      framing,
      keepAlive,
      finishClient: () => void (clientChunked && client.write(LAST_CHUNK)),
    });
  });
  readResponseBody(socket, framing, rest, send, onEnd);
}
