/**
 * nginx's header buffers, replayed over a request head's line offsets: a
 * head is read into one client_header_buffer_size buffer; when that fills
 * mid-head, a large_client_header_buffers buffer is taken and the line in
 * progress is copied into it (ngx_http_alloc_large_header_buffer). A line
 * that cannot fit in one large buffer, or a head that needs more large
 * buffers than there are, is refused. Replaying the same rule gives the same
 * answer as nginx for every head, including the bytes a buffer boundary
 * wastes, instead of a simple total.
 */

import type { SrvConf } from "../config/model.js";

export type BufferLimits = Pick<SrvConf, "clientHeaderBufferSize" | "largeClientHeaderBuffers">;

export type Reach = "ok" | "line too long" | "no buffer left";

export class HeaderBuffers {
  /** Offset just past the current buffer's last byte. */
  private end: number;
  private taken = 0;

  constructor(private readonly limits: BufferLimits) {
    this.end = limits.clientHeaderBufferSize;
  }

  /** For the next request's head. */
  reset(): void {
    this.end = this.limits.clientHeaderBufferSize;
    this.taken = 0;
  }

  /** The parser needs the bytes before `needed` while it is in the line that began at `lineStart`. */
  reach(needed: number, lineStart: number): Reach {
    const { size, count } = this.limits.largeClientHeaderBuffers;
    while (this.end < needed) {
      // At a line boundary nginx's parser state is 0 and nothing is copied.
      const atBoundary = lineStart >= this.end;
      if (!atBoundary && this.end - lineStart >= size) return "line too long";
      if (this.taken >= count) return "no buffer left";
      this.taken++;
      this.end = (atBoundary ? this.end : lineStart) + size;
    }
    return "ok";
  }
}
