/**
 * The request body as the upstream gets it, one interface over its three
 * ways (ngx_http_proxy_handler's request_body_no_buffering rule):
 *
 * - none: no body, so nothing to send;
 * - buffered (proxy_request_buffering on; also a chunked body to an HTTP/1.0
 *   upstream, and a body not passed, which is read and dropped): read whole
 *   before any peer is chosen, in memory or a temporary file
 *   (RequestBodyBuffer), sent with a Content-Length, again on every retry;
 * - streamed (proxy_request_buffering off): read from the client as it is
 *   sent to the first upstream, kept while it fits in REPLAY_LIMIT so that a
 *   retry can send it again once complete.
 *
 * proxy_set_body replaces the body: the client's is read whole and dropped
 * (ngx_http_proxy_handler still reads it; body_values turn streaming off), and
 * the value goes with its own Content-Length. client_body_in_file_only reads
 * the body whole into a file whatever proxy_request_buffering says.
 */

import type { LocConf } from "../config/model.js";
import type { BodyFraming } from "../http/request-headers.js";
import { LAST_CHUNK, encodeChunk } from "../core/chunked.js";
import type { ProxyContext } from "./context.js";
import { RequestBodyBuffer, type SpoolError } from "./request-body-buffer.js";
import type { Guard } from "./upstream-attempt.js";
import type { UpstreamBody } from "./upstream-request.js";

/** A streamed body up to this size is kept so that a retry can send it again. */
export const REPLAY_LIMIT = 1024 * 1024;

/** What reading the body tells the session. */
export interface BodyEvents {
  /** A chunked body passed client_max_body_size (nginx's 413). */
  tooLarge(received: number): void;
  /** The client's body could not be read: a framing error, or the client gone. */
  failed(status: number, reason: string): void;
  /** A temporary file could not be made, written or read. */
  spoolFailed(error: SpoolError): void;
}

/** The try the body goes to (an UpstreamAttempt). */
export interface BodyTarget {
  write(data: Buffer): boolean;
  once(event: "drain", listener: () => void): void;
  on(event: "drain", listener: () => void): () => void;
  /** Still the request's try, its socket open. */
  readonly live: boolean;
}

export interface RequestBodySource {
  /** The body is read whole before a peer is chosen. */
  readonly readFirst: boolean;
  /** Read it whole (readFirst only); `done` with a file error, or undefined. */
  read(done: (error: SpoolError | undefined) => void): void;
  /** The framing the upstream head announces for this try (asked before send()). */
  upstreamFraming(): UpstreamBody;
  /** Send the body after the head; `written` once the whole of it was handed to the socket. */
  send(target: BodyTarget, written: () => void): void;
  /** A retry can send it again. */
  readonly replayable: boolean;
  /** The whole body went to the current try (its connection may be cached after). */
  readonly sentWhole: boolean;
  /** The response began: a body already sent whole is not needed any more. */
  responseStarted(): void;
  /** The request is over: memory and file go. */
  dispose(): void;
}

export function requestBodySource(ctx: ProxyContext, events: BodyEvents, guard: Guard): RequestBodySource {
  const r = ctx.r;
  const framing = r.facts.framing;
  const loc = ctx.location.loc;
  if (loc.proxySetBody) {
    const client = framing.kind === "none" ? NO_BODY : new BufferedBody(ctx, events, guard, false);
    return new SetBody(ctx, client);
  }
  // A subrequest's body is nginx's empty one (auth_request's): nothing is sent, yet the parent's
  // Content-Length is announced, as r->headers_in is the parent's (unless proxy_set_header drops it).
  if (r.parent !== undefined) return subrequestBody(r.parent.facts.framing);
  if (framing.kind === "none") {
    // client_body_in_file_only: "Content-Length: 0" is a body, read into an empty file (nginx's "empty body").
    const empty = loc.clientBodyInFileOnly !== "off" && r.headers.some(([name]) => /^content-length$/i.test(name));
    return empty ? new BufferedBody(ctx, events, guard, loc.proxyPassRequestBody) : NO_BODY;
  }
  if (!loc.proxyPassRequestBody) return new BufferedBody(ctx, events, guard, false);
  if (
    loc.proxyRequestBuffering ||
    loc.clientBodyInFileOnly !== "off" ||
    (framing.kind === "chunked" && loc.proxyHttpVersion === "1.0")
  ) {
    return new BufferedBody(ctx, events, guard, true);
  }
  return new StreamedBody(ctx, events, guard);
}

function subrequestBody(parent: BodyFraming): RequestBodySource {
  const announced: UpstreamBody = parent.kind === "length" ? parent : { kind: "none" };
  return { ...NO_BODY, upstreamFraming: () => announced };
}

const NO_BODY: RequestBodySource = {
  readFirst: false,
  read: (done) => done(undefined),
  upstreamFraming: () => ({ kind: "none" }),
  send: (_target, written) => written(),
  replayable: true,
  sentWhole: true,
  responseStarted: () => undefined,
  dispose: () => undefined,
};

/** Counts body bytes; a chunked body past client_max_body_size (0: none) is reported once, and stops the reading. */
class BodyCounter {
  received = 0;
  constructor(
    private readonly framing: BodyFraming,
    private readonly loc: LocConf,
    private readonly events: BodyEvents,
  ) {}

  /** false once a chunked body passed the limit (a body with a length was checked before). */
  count(chunk: Buffer): boolean {
    this.received += chunk.length;
    const limit = this.loc.clientMaxBodySize;
    if (this.framing.kind !== "chunked" || limit === 0 || this.received <= limit) return true;
    this.events.tooLarge(this.received);
    return false;
  }
}

class BufferedBody implements RequestBodySource {
  readonly readFirst = true;
  private buffer: RequestBodyBuffer | undefined;
  private sent = false;
  private answered = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly events: BodyEvents,
    private readonly guard: Guard,
    /** false: proxy_pass_request_body off, the body is read and dropped. */
    private readonly passed: boolean,
  ) {}

  /**
   * ngx_http_read_client_request_body(): in memory while it fits
   * client_body_buffer_size (with the bytes read along with the head, and a
   * quarter more for a known length, as nginx sizes its buffer), else in a
   * temporary file.
   */
  read(done: (error: SpoolError | undefined) => void): void {
    const { r, connection, services } = this.ctx;
    const loc = this.ctx.location.loc;
    const framing = r.facts.framing;
    const size = loc.clientBodyBufferSize;
    const srv = connection.srv;
    const headerBuffer =
      r.head.length <= srv.clientHeaderBufferSize ? srv.clientHeaderBufferSize : srv.largeClientHeaderBuffers.size;
    const preread = Math.min(connection.bufferedBytes, Math.max(0, headerBuffer - r.head.length));
    // The file is made once the buffer is full and more is coming (ngx_http_request_body_save_filter).
    let memoryLimit = preread + size;
    if (framing.kind === "length" && framing.length - preread < size + (size >> 2)) memoryLimit = framing.length;
    // r->request_body_file_log_level: notice when every body goes to a file, warn when this one outgrew memory.
    const level = loc.clientBodyInFileOnly === "off" ? "warn" : "notice";
    const buffer = new RequestBodyBuffer(
      memoryLimit,
      loc.clientBodyTempPath,
      {
        spooled: this.guard((path: string) =>
          services
            .errorLogFor(r)
            .log(level, `a client request body is buffered to a temporary file ${path}`, r.logContext()),
        ),
        resume: this.guard(() => connection.resumeBody()),
      },
      loc.clientBodyInFileOnly,
    );
    this.buffer = buffer;
    const finish = (): void =>
      buffer.finish(
        this.guard((error: SpoolError | undefined) => {
          // $request_body and $request_body_file read what the body became.
          r.requestBody = { memory: buffer.memoryChunks, file: buffer.fileName };
          done(error);
        }),
      );
    // An empty body (client_body_in_file_only with Content-Length: 0): nothing to read, a file all the same.
    if (framing.kind === "none") return finish();
    const counter = new BodyCounter(framing, loc, this.events);
    connection.setIdleTimeout(loc.clientBodyTimeoutMs);
    connection.readBody(framing, {
      data: guardedAnswer(this.guard, (chunk) => counter.count(chunk) && buffer.add(chunk)),
      end: this.guard(() => {
        connection.setIdleTimeout(0);
        finish();
      }),
      fail: this.guard((status: number, reason: string) => this.events.failed(status, reason)),
    });
  }

  upstreamFraming(): UpstreamBody {
    return this.passed ? { kind: "length", length: this.buffer!.length } : { kind: "none" };
  }

  send(target: BodyTarget, written: () => void): void {
    this.sent = !this.passed;
    if (!this.passed) {
      written();
      return;
    }
    const buffer = this.buffer!;
    buffer.writeTo(
      target,
      () => target.live,
      this.guard((error: SpoolError | undefined) => {
        if (error) this.events.spoolFailed(error);
        else {
          this.sent = true;
          written();
        }
        if (this.answered) this.dispose();
      }),
    );
  }

  get replayable(): boolean {
    return true;
  }

  get sentWhole(): boolean {
    return this.sent;
  }

  responseStarted(): void {
    this.answered = true;
    if (this.sent) this.dispose();
  }

  dispose(): void {
    this.buffer?.dispose();
  }
}

class StreamedBody implements RequestBodySource {
  readonly readFirst = false;
  private started = false;
  private complete = false;
  /** The body's bytes, kept while they fit in REPLAY_LIMIT; undefined once they did not. */
  private kept: Buffer[] | undefined = [];
  private readonly counter: BodyCounter;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly events: BodyEvents,
    private readonly guard: Guard,
  ) {
    this.counter = new BodyCounter(ctx.r.facts.framing, ctx.location.loc, events);
  }

  read(done: (error: SpoolError | undefined) => void): void {
    done(undefined);
  }

  upstreamFraming(): UpstreamBody {
    // A retry sends what was kept, with its length; a chunked body stays chunked (an HTTP/1.1 upstream).
    if (this.started) return { kind: "length", length: this.counter.received };
    const framing = this.ctx.r.facts.framing;
    return framing.kind === "chunked" ? { kind: "chunked" } : framing.kind === "length" ? framing : { kind: "none" };
  }

  send(target: BodyTarget, written: () => void): void {
    if (this.started) {
      // A retry: the body was read whole and kept (else no retry is made).
      for (const chunk of this.kept ?? []) target.write(chunk);
      written();
      return;
    }
    this.started = true;
    const { r, connection } = this.ctx;
    const loc = this.ctx.location.loc;
    const framing = r.facts.framing;
    const chunked = framing.kind === "chunked";
    connection.setIdleTimeout(loc.clientBodyTimeoutMs);
    target.on("drain", () => connection.resumeBody());
    connection.readBody(framing, {
      data: guardedAnswer(this.guard, (chunk) => {
        if (!this.counter.count(chunk)) return false;
        if (this.kept) {
          if (this.counter.received <= REPLAY_LIMIT) this.kept.push(chunk);
          else this.kept = undefined;
        }
        if (!target.live) return true;
        if (!chunked) return target.write(chunk);
        let ok = true;
        for (const part of encodeChunk(chunk)) ok = target.write(part) && ok;
        return ok;
      }),
      end: this.guard(() => {
        connection.setIdleTimeout(0);
        this.complete = true;
        if (!target.live) return;
        if (chunked) target.write(LAST_CHUNK);
        written();
      }),
      fail: this.guard((status: number, reason: string) => this.events.failed(status, reason)),
    });
  }

  get replayable(): boolean {
    return !this.started || (this.complete && this.kept !== undefined);
  }

  get sentWhole(): boolean {
    return !this.started || this.complete;
  }

  responseStarted(): void {
    // Nothing is held for the upstream once it answered, but the kept bytes are dropped with the request.
  }

  dispose(): void {
    this.kept = undefined;
  }
}

/** proxy_set_body: the value, evaluated once for every try, in place of the client's body (read and dropped by `client`). */
class SetBody implements RequestBodySource {
  private body: Buffer | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly client: RequestBodySource,
  ) {}

  get readFirst(): boolean {
    return this.client.readFirst;
  }

  read(done: (error: SpoolError | undefined) => void): void {
    this.client.read(done);
  }

  upstreamFraming(): UpstreamBody {
    // ngx_http_proxy_create_request(): internal_body_length is the value's length, 0 included.
    this.body ??= Buffer.from(this.ctx.location.loc.proxySetBody!.evaluate(this.ctx.r), "latin1");
    return { kind: "length", length: this.body.length };
  }

  send(target: BodyTarget, written: () => void): void {
    if (this.body && this.body.length > 0) target.write(this.body);
    written();
  }

  readonly replayable = true;
  readonly sentWhole = true;

  responseStarted(): void {
    this.client.responseStarted();
  }

  dispose(): void {
    this.client.dispose();
  }
}

/** A body sink's data callback through the guard; after a throw (the session is over) it answers "go on". */
function guardedAnswer(guard: Guard, work: (chunk: Buffer) => boolean): (chunk: Buffer) => boolean {
  let answer = true;
  const run = guard((chunk: Buffer) => void (answer = work(chunk)));
  return (chunk) => {
    answer = true;
    run(chunk);
    return answer;
  };
}
