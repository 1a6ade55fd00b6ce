/**
 * The "relay" phase (ngx_http_upstream_send_response, unbuffered): the
 * client gets the response head as proxy_redirect, add_header and the header
 * filter make it, then the body as it comes, re-framed for the client
 * (chunked coding to an HTTP/1.1 client when the upstream gave no length),
 * with back-pressure both ways; the end says how the body ended and whether
 * the client connection may stay open. The gzip filter (http/gzip-filter.ts)
 * may change the head and compress the body on the way (http/gzip-body.ts).
 */

import { upstreamMethod } from "./upstream-request.js";
import { LAST_CHUNK, encodeChunk } from "../core/chunked.js";
import type { ProxyContext } from "./context.js";
import { bodyWriter } from "../http/rate-limit.js";
import { readResponseBody, responseFraming, type BodyOutcome, type ResponseFraming } from "./response-body.js";
import type { ResponseHead } from "./response-head.js";
import { passedHeaders, proxiedHead, relayBodyEnd } from "./response-headers.js";
import { GzipBody } from "../http/gzip-body.js";
import { CONTENT_ENCODING, gzipHeaders, gzipVerdict, varyLines, type GzipVerdict } from "../http/gzip-filter.js";
import type { HttpRequest } from "../http/request.js";
import type { LocConf } from "../config/model.js";
import type { GzipCounts } from "../vars/gzip-ratio.js";
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

/** The gzip filter's verdict on the head the client would get. */
function gzipOf(r: HttpRequest, head: ResponseHead, loc: LocConf, added: ReadonlyArray<[string, string]>): GzipVerdict {
  const passed = passedHeaders(head, loc);
  return gzipVerdict(r, {
    status: head.status,
    contentType: passed.find(([name]) => name.toLowerCase() === "content-type")?.[1],
    contentLength: head.contentLength,
    headers: [...passed, ...added],
  });
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
  // Read as the answer to the method the upstream was asked with (proxy_method may differ from the client's).
  const framing = responseFraming(changes.head, upstreamMethod(r));
  // A HEAD client gets the head only (r->header_only), whatever the upstream sends after it.
  const clientFraming = r.method === "HEAD" ? "none" : framing.kind;
  // Without gzip in force the verdict is "none" (gzipVerdict's first test): no header list is made for it.
  const verdict = r.loc.gzip ? gzipOf(r, changes.head, loc, changes.added) : "none";
  const gzip = verdict === "gzip";
  const head = gzip ? { ...changes.head, headers: gzipHeaders(changes.head.headers) } : changes.head;
  // A compressed body's length is not known before it ends; an empty body still becomes a gzip stream
  // (nginx's last buffer goes through the gzip filter), so it too needs chunks or the close.
  const compressing = gzip && r.method !== "HEAD";
  const sentFraming = compressing && (clientFraming === "length" || clientFraming === "none") ? "close" : clientFraming;
  // nginx's chunked filter leaves responses under 200 alone; its header filter says "Connection: upgrade" to a 101.
  const clientChunked =
    head.status >= 200 &&
    sentFraming !== "length" &&
    sentFraming !== "none" &&
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
    { chunked: clientChunked, end: relayBodyEnd(head.status, sentFraming, clientChunked) },
    {
      ...changes,
      added: gzip ? [...changes.added, [...CONTENT_ENCODING]] : changes.added,
      vary: varyLines(loc, verdict),
    },
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
    // With gzip the upstream waits for zlib's input only (resumeUpstream); else for the client's side.
    guard(() =>
      compressor ? resumeUpstream() : void (client.socket.writableNeedDrain || out.holding || socket.resume()),
    ),
  );
  const out = bodyWriter(r, client.socket, () => outputReady());
  const toClient = (data: Buffer): boolean => out.write(clientChunked ? encodeChunk(data) : [data]);
  // The gzip filter sits between the upstream and the limit: zlib's output waits for the limit and the
  // socket, the upstream waits for zlib's input (so it resumes on zlib's drain, not on the socket's).
  const compressor = compressing
    ? new GzipBody(
        loc,
        head.contentLength,
        client.socket,
        toClient,
        guard(() => client.socket.destroy()),
        () => out.holding,
      )
    : undefined;
  const resumeUpstream = guard(
    () => void (readLimit?.holding === true || (!compressor && out.holding) || socket.resume()),
  );
  const outputReady = (): void => (compressor ? compressor.outputReady() : resumeUpstream());
  if (compressor) compressor.onDrain(resumeUpstream);
  else client.socket.on("drain", resumeUpstream);
  const send = guard((data: Buffer): void => {
    if (clientFraming === "none") return;
    readLimit?.took(data.length);
    if (!(compressor ? compressor.write(data) : toClient(data))) socket.pause();
    // proxy_buffering off marks every buffer read for flushing (ngx_http_upstream_process_non_buffered_request).
    if (compressor && !loc.proxyBuffering) compressor.flush();
  });
  const onEnd = guard((outcome: BodyOutcome): void => {
    if (!compressor) out.whenFlushed(() => ended(outcome));
    else if (outcome !== "complete") {
      compressor.destroy();
      out.whenFlushed(() => ended(outcome));
    } else
      compressor.end(
        guard((counts: GzipCounts) => {
          r.gzipCounts = counts;
          out.whenFlushed(() => ended(outcome));
        }),
      );
  });
  const ended = guard((outcome: BodyOutcome): void => {
    readLimit?.stop();
    client.socket.off("drain", resumeUpstream);
    done({
      outcome,
      head: changes.head,
      framing,
      keepAlive,
      finishClient: () => void (clientChunked && client.write(LAST_CHUNK)),
    });
  });
  readResponseBody(socket, framing, rest, send, onEnd);
}
