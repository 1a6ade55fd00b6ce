/**
 * One request body's bytes as they arrive, cut by its framing — a length, or
 * chunks (ngx_http_parse_chunked) — and handed to its consumer: the part of a
 * client connection (connection.ts) that reads bodies. What follows the body
 * in the same read is given back, for the next request or a tunnel.
 */

import { ChunkedDecoder } from "../core/chunked.js";
import type { BodySink } from "./connection-events.js";
import type { BodyFraming } from "./request-headers.js";

export interface FedBytes {
  /** Bytes past the body's end (the next request's, or a tunnel's first). */
  readonly rest: Buffer | undefined;
  /** Bytes of the read that were the body's, framing included ($request_length counts them). */
  readonly used: number;
  /** False: the consumer asked to stop reading until it resumes. */
  readonly more: boolean;
}

export class BodyFeed {
  private left: number;
  private readonly chunked: ChunkedDecoder | undefined;
  private sink: BodySink | undefined;

  constructor(framing: Exclude<BodyFraming, { kind: "none" }>, sink: BodySink) {
    this.sink = sink;
    this.left = framing.kind === "length" ? framing.length : 0;
    this.chunked = framing.kind === "chunked" ? new ChunkedDecoder() : undefined;
  }

  /** The body has neither ended nor failed: more of it is awaited. */
  get open(): boolean {
    return this.sink !== undefined;
  }

  /** A read of the client's bytes, while open. */
  feed(chunk: Buffer): FedBytes {
    const sink = this.sink!;
    let more = true;
    if (this.chunked) {
      const result = this.chunked.feed(chunk, (data) => {
        more = sink.data(data) && more;
      });
      if (result === "invalid") {
        this.sink = undefined;
        sink.fail(400, "client sent invalid chunked body");
        return { rest: undefined, used: chunk.length, more: true };
      }
      if (result === "more") return { rest: undefined, used: chunk.length, more };
      const rest = this.chunked.rest;
      this.sink = undefined;
      sink.end();
      return { rest, used: chunk.length - (rest?.length ?? 0), more };
    }
    const take = Math.min(this.left, chunk.length);
    more = sink.data(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.left -= take;
    if (this.left === 0) {
      this.sink = undefined;
      sink.end();
    }
    return { rest: take < chunk.length ? chunk.subarray(take) : undefined, used: take, more };
  }

  /** The client went away before the body's end: the consumer is told, once. */
  abandon(reason: string): void {
    const sink = this.sink;
    this.sink = undefined;
    sink?.fail(400, reason);
  }
}
