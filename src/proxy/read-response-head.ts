/**
 * The "read response head" phase (ngx_http_upstream_process_header): the
 * upstream's bytes are gathered until its head is whole, then parsed; what
 * came after the head goes on with it. The reader listens from the moment
 * the request head is written, as nginx reads while it still sends the body.
 */

import { parseResponseHead, type ResponseHead } from "./response-head.js";
import type { UpstreamAttempt } from "./upstream-attempt.js";

export interface HeadEvents {
  /** A whole head, and the bytes read past it. */
  head(head: ResponseHead, rest: Buffer | undefined): void;
  /** The head is not HTTP as nginx reads it: `reason` in nginx's words. */
  invalid(reason: string): void;
  /** nginx's warning for a repeated single-valued header it ignored, reported as the head is read. */
  duplicate?(warning: string): void;
  /** The upstream closed before its head was whole. */
  closed(): void;
}

/** nginx's default proxy_buffer_size (one memory page on x86-64 Linux). */
const PAGE = 4096;

/** `limit` is proxy_buffer_size: a head that does not fit in it is "upstream sent too big header". */
export function readResponseHead(attempt: UpstreamAttempt, events: HeadEvents, limit = PAGE): void {
  let buffered: Buffer | undefined;
  const offData = attempt.on("data", (chunk: Buffer) => {
    buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
    const parsed = parseResponseHead(buffered, limit);
    if (parsed.kind === "incomplete") return;
    offData();
    offEnd();
    for (const warning of (parsed.kind === "head" ? parsed.head.duplicates : parsed.duplicates) ?? [])
      events.duplicate?.(warning);
    if (parsed.kind === "error") {
      events.invalid(parsed.reason);
      return;
    }
    attempt.record.headerMs = Date.now() - attempt.startMs;
    events.head(parsed.head, parsed.head.length < buffered.length ? buffered.subarray(parsed.head.length) : undefined);
  });
  const offEnd = attempt.on("end", () => events.closed());
}
