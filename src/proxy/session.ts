/**
 * One proxied request, phase by phase (phase.ts): the body read first when
 * buffered, a peer selected, a try made (upstream-attempt.ts) — connect, send
 * the request, read the response head — then relay, upgrade or intercept,
 * and finished. A failed try goes back to select the next peer as
 * proxy_next_upstream allows (next-upstream.ts).
 *
 * The phase is one value and changes only through to(). Every callback the
 * session installs (upstream socket listeners, body sinks, timers, the
 * tunnel's close) runs through guard(): a throw there is a bug of this
 * request, which ends it — upstream closed, peer freed, body dropped — and
 * the request flow logs an alert and closes the client connection.
 */

import { systemErrorText } from "../core/errors.js";
import type { AbortReason } from "../http/connection.js";
import type { LogLevel } from "../config/model.js";
import type { Selection } from "../upstream/balancer.js";
import type { UpstreamTry } from "../vars/source.js";
import { upstreamUrlFor, type ProxyContext } from "./context.js";
import { discardResponse } from "./discard-response.js";
import { interceptResponse, intercepts } from "./intercept.js";
import { countsAsFailure, failureStatus, statusFailure, TryBudget, type TryFailure } from "./next-upstream.js";
import { canMove, responseStarted, tryUnderWay, type Phase } from "./phase.js";
import { readResponseHead } from "./read-response-head.js";
import { relayResponse, type RelayEnd } from "./relay.js";
import type { SpoolError } from "./request-body-buffer.js";
import { requestBodySource, type RequestBodySource } from "./request-body-source.js";
import type { ResponseHead } from "./response-head.js";
import { tryRecord, UpstreamAttempt, type AttemptTimeout, type Guard } from "./upstream-attempt.js";
import { BODY_FAILURE, TIMED_OUT, timeoutDoing, upstreamErrorVerdict } from "./upstream-failure.js";
import { buildUpstreamHead } from "./upstream-request.js";
import { upgradeToTunnel } from "./upgrade.js";
import { upstreamTls, UpstreamTlsError, type UpstreamTls } from "../upstream/upstream-tls.js";

/** The connection's reason for a body cut short by the client (connection.ts onEnd). */
const CLIENT_GONE = "client prematurely closed connection";

export class ProxySession {
  private phase: Phase = "start";
  private readonly selection: Selection;
  private readonly tries: TryBudget;
  /** The current try; undefined before the first and when no peer was left. */
  private attempt: UpstreamAttempt | undefined;
  /** The latest try's record (nginx's u->state): log lines name its address. */
  private record: UpstreamTry | undefined;
  private readonly body: RequestBodySource;
  private crashed = false;
  /** The client went while proxy_ignore_client_abort kept the request going. */
  private clientGone = false;
  private tls: UpstreamTls | UpstreamTlsError | undefined;

  constructor(private readonly ctx: ProxyContext) {
    this.selection = ctx.group.select(ctx.r);
    this.tries = new TryBudget(ctx.group.tries, ctx.group.lists.single, ctx.location.loc, ctx.r.method);
    this.body = requestBodySource(
      ctx,
      {
        tooLarge: (received) => this.tooLarge(received),
        failed: (status, reason) => this.bodyFailed(status, reason),
        spoolFailed: (error) => this.spoolFailed(error),
      },
      this.guard,
    );
  }

  /** Runs `fn` so that a throw in it ends this request (crash()), not the process. */
  readonly guard: Guard =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (err) {
        this.crash(err);
      }
    };

  start(): void {
    this.guard(() => {
      const { r, connection } = this.ctx;
      connection.onAbortHandler = this.guard((reason: AbortReason) => this.clientAborted(reason));
      r.answerExpect((text) => connection.write(text));
      if (!this.body.readFirst) {
        this.selectPeer();
        return;
      }
      this.to("read request body");
      this.body.read((error) => {
        if (this.over) return;
        if (error) this.spoolFailed(error);
        else this.selectPeer();
      });
    })();
  }

  /** The one way the phase changes; a move phase.ts does not list is a bug (the guard ends the request). */
  private to(next: Phase): void {
    if (!canMove(this.phase, next)) throw new Error(`proxy phase "${this.phase}" cannot go to "${next}"`);
    this.phase = next;
  }

  private get over(): boolean {
    return this.phase === "finished";
  }

  /** Whether `attempt` is the try in progress (events of a try already left are ignored). */
  private current(attempt: UpstreamAttempt): boolean {
    return !this.over && attempt === this.attempt;
  }

  /** ngx_http_upstream_connect(): the balancer's next peer, then a cached connection or a new one. */
  private selectPeer(): void {
    this.to("select peer");
    const { r, group, location } = this.ctx;
    const peer = this.selection.pick(Date.now());
    const record = tryRecord(peer ? peer.address.text : group.name);
    this.record = record;
    r.upstreamTries.push(record);
    const tls = this.upstreamTls();
    if (tls instanceof UpstreamTlsError) {
      // ngx_http_upstream_ssl_certificate() could not load the certificate its variables name.
      this.logUpstream("error", `${tls.message} while connecting to upstream`);
      this.fail(500);
      return;
    }
    if (!peer) {
      // NGX_BUSY: no live peer; the try is named after the group.
      this.attempt = undefined;
      this.logUpstream("error", "no live upstreams while connecting to upstream");
      record.status = 502;
      record.responseMs = 0;
      this.fail(502);
      return;
    }
    const attempt: UpstreamAttempt = new UpstreamAttempt(
      group,
      peer,
      record,
      location.loc,
      {
        connected: () => this.sendRequest(attempt),
        error: (err) => this.upstreamError(attempt, err),
        timedOut: (which) => this.upstreamTimeout(attempt, which),
      },
      this.guard,
      tls,
    );
    this.attempt = attempt;
    if (attempt.reused) {
      this.sendRequest(attempt);
      return;
    }
    this.to("connect");
  }

  /** proxy_pass https://: the request's TLS settings, evaluated once for all its tries. */
  private upstreamTls(): UpstreamTls | UpstreamTlsError | undefined {
    const { r, pass, location } = this.ctx;
    if (pass.scheme !== "https") return undefined;
    return (this.tls ??= upstreamTls(location.loc, r, pass));
  }

  /** ngx_http_upstream_send_request(): the head, then the body as its source sends it; the head is read meanwhile. */
  private sendRequest(attempt: UpstreamAttempt): void {
    if (!this.current(attempt)) return;
    this.to("send request");
    const { r, pass, location, group } = this.ctx;
    // The head and the body bytes already read go out in one write.
    attempt.corkForTick();
    const head = buildUpstreamHead(r, pass, location, this.body.upstreamFraming());
    attempt.write(head);
    attempt.headWritten(group.keepalive === undefined || /\r\nconnection:[ \t]*close/i.test(head));
    readResponseHead(
      attempt,
      {
        head: (responseHead, rest) => this.responseHead(attempt, responseHead, rest),
        invalid: (reason) => this.invalidHead(attempt, reason),
        duplicate: (warning) => {
          if (this.current(attempt)) this.logUpstream("warn", `${warning} while reading response header from upstream`);
        },
        closed: () => this.closedBeforeHead(attempt),
      },
      location.loc.proxyBufferSize,
    );
    this.body.send(attempt, () =>
      attempt.requestWritten(() => {
        if (this.current(attempt) && this.phase === "send request") this.to("read response head");
      }),
    );
  }

  private invalidHead(attempt: UpstreamAttempt, reason: string): void {
    if (!this.current(attempt)) return;
    this.logUpstream("error", `${reason} while reading response header from upstream`);
    this.next(attempt, "invalid_header", "reading response header from upstream");
  }

  private closedBeforeHead(attempt: UpstreamAttempt): void {
    if (!this.current(attempt) || responseStarted(this.phase)) return;
    this.logUpstream("error", "upstream prematurely closed connection while reading response header from upstream");
    this.next(attempt, "error", "reading response header from upstream");
  }

  /** ngx_http_upstream_process_header() done: try the next peer for a listed status, else relay, upgrade or intercept. */
  private responseHead(attempt: UpstreamAttempt, head: ResponseHead, rest: Buffer | undefined): void {
    if (!this.current(attempt)) return;
    const { r, services } = this.ctx;
    attempt.record.status = head.status;
    const failure = statusFailure(head.status);
    if (failure && this.tries.allowsAfterStatus(failure, attempt, this.body.replayable)) {
      // ngx_http_upstream_test_next(): this status is listed and another peer may answer better.
      attempt.record.responseMs = Date.now() - attempt.startMs;
      this.next(attempt, failure, "reading response header from upstream");
      return;
    }
    const next: Phase = this.clientGone
      ? "relay"
      : head.status === 101 && r.facts.upgrade
        ? "upgrade"
        : intercepts(r, head.status)
          ? "intercept"
          : "relay";
    this.to(next);
    this.body.responseStarted();
    attempt.responseHeadArrived();
    if (services.keepsResponseHeaders) attempt.record.responseHeaders = head.headers;
    const relayEnded = (end: RelayEnd): void => this.relayEnded(attempt, end);
    if (this.clientGone) {
      discardResponse(this.ctx, attempt, head, rest, this.guard, relayEnded);
    } else if (next === "upgrade") {
      // From here the tunnel's own record ends the request: this session, the try and their closures may go.
      upgradeToTunnel(this.ctx, attempt, head, rest, this.body);
    } else if (next === "intercept") {
      this.to("finished");
      this.body.dispose();
      interceptResponse(this.ctx, attempt, head.status, this.upstreamUrl);
    } else {
      // The response filters' error-log lines (charset) name the upstream, as nginx's do.
      if (this.record) this.ctx.r.upstreamForLog = this.upstreamUrl;
      relayResponse(this.ctx, attempt, head, rest, this.guard, relayEnded);
    }
  }

  private relayEnded(attempt: UpstreamAttempt, end: RelayEnd): void {
    if (this.over) return;
    this.to("finished");
    attempt.closeRecord();
    // u->pipe->read_length: the body bytes read through the buffers; none without proxy_buffering.
    if (this.ctx.location.loc.proxyBuffering) {
      attempt.record.responseLength = Math.max(0, attempt.record.bytesReceived - end.head.length);
    }
    attempt.free("ok");
    this.body.dispose();
    if (end.outcome === "complete" && attempt.reusable(end.head, end.framing.kind, this.body.sentWhole))
      attempt.cache();
    else attempt.destroy();
    const { r, services } = this.ctx;
    if (end.outcome !== "complete") {
      this.logUpstream("error", `${BODY_FAILURE[end.outcome]} while reading upstream`);
      services.finalize(r, false);
      return;
    }
    end.finishClient();
    services.finalize(r, end.keepAlive);
  }

  private upstreamError(attempt: UpstreamAttempt, err: Error): void {
    if (!this.current(attempt)) return;
    const verdict = upstreamErrorVerdict(err, {
      connected: attempt.connected,
      handshaking: attempt.handshaking,
      unixPeer: attempt.address.kind === "unix" ? attempt.address.text : undefined,
      requestSent: attempt.requestSent,
      responding: this.phase === "relay" || this.phase === "upgrade" ? this.phase : undefined,
    });
    this.logUpstream(verdict.level, verdict.message);
    if (verdict.then === "log") return;
    if (verdict.then === "next") {
      this.next(attempt, "error", verdict.doing);
      return;
    }
    attempt.destroy();
    attempt.free("ok");
    this.fail(verdict.status);
  }

  private upstreamTimeout(attempt: UpstreamAttempt, which: AttemptTimeout): void {
    if (!this.current(attempt) || responseStarted(this.phase)) return;
    const doing = timeoutDoing(which);
    this.logUpstream("error", `${TIMED_OUT} while ${doing}`);
    this.next(attempt, "timeout", doing);
  }

  /** ngx_http_upstream_next(): this try failed; free the peer, then try the next one or end with the status. */
  private next(attempt: UpstreamAttempt, failure: TryFailure, doing: string): void {
    // nginx's state for a failed try: the status it stands for, its time, what went over the wire.
    attempt.record.status = failureStatus(failure);
    attempt.closeRecord();
    attempt.destroy();
    const disabled = attempt.free(countsAsFailure(failure) ? "failed" : "next");
    if (disabled) this.logUpstream("warn", `upstream server temporarily disabled while ${doing}`);
    if (!this.tries.spend(failure, attempt, this.body.replayable)) {
      this.fail(attempt.record.status);
      return;
    }
    this.selectPeer();
  }

  /** The request ends with an error page (or nginx's own) for `status`. */
  private fail(status: number): void {
    if (this.over) return;
    this.to("finished");
    this.body.dispose();
    if (this.record) this.ctx.r.upstreamForLog = this.upstreamUrl;
    this.ctx.services.respondError(this.ctx.r, status);
  }

  /** The try's socket goes and its peer is freed as after a success (the request ends for another reason). */
  private abandonAttempt(): void {
    this.attempt?.destroy();
    this.attempt?.free("ok");
  }

  /**
   * The body could not be read: a framing error gets its error page; a client
   * gone (c->error in nginx) gets nothing, and the request is logged with the status.
   */
  private bodyFailed(status: number, reason: string): void {
    const { r, services } = this.ctx;
    services.errorLogFor(r).log("info", reason, r.logContext());
    this.abandonAttempt();
    if (responseStarted(this.phase) || this.over) return;
    if (reason !== CLIENT_GONE) {
      this.fail(status);
      return;
    }
    this.to("finished");
    this.body.dispose();
    if (this.record) r.upstreamForLog = this.upstreamUrl;
    r.status = status;
    services.finalize(r, false);
  }

  /** A temporary file could not be made, written or read: nginx's crit line and a 500. */
  private spoolFailed(error: SpoolError): void {
    const { r, services } = this.ctx;
    services
      .errorLogFor(r)
      .log("crit", `${error.call} "${error.path}" failed (${systemErrorText(error.err)})`, r.logContext());
    this.abandonAttempt();
    this.fail(500);
  }

  /** A chunked body past client_max_body_size: nginx's 413, and the upstream request abandoned. */
  private tooLarge(received: number): void {
    if (this.over) return;
    const { r, services, connection } = this.ctx;
    services
      .errorLogFor(r)
      .log("error", `client intended to send too large chunked body: ${received} bytes`, r.logContext());
    this.abandonAttempt();
    if (!responseStarted(this.phase)) {
      this.fail(413);
      return;
    }
    // A response is already on its way: there is no status left to send, only the connection to close.
    this.to("finished");
    connection.destroy();
  }

  private clientAborted(reason: AbortReason): void {
    if (this.over) return;
    const { r, services, location } = this.ctx;
    if (reason !== "timeout" && location.loc.proxyIgnoreClientAbort && this.waitsForUpstream) {
      // nginx does not look at the client until it has a response to send (discard-response.ts).
      this.clientGone = true;
      return;
    }
    const started = responseStarted(this.phase);
    if (!started && reason === "timeout") {
      // client_body_timeout (the only client timer before a response): nginx closes and logs 408, nothing more.
      r.status = 408;
    } else if (this.phase === "read request body") {
      // Still reading the body, no upstream yet: nginx's recv() error (c->error), and a 400.
      const text = reason === "error" ? "recv() failed (104: Connection reset by peer)" : CLIENT_GONE;
      services.errorLogFor(r).log("info", text, r.logContext());
      r.status = 400;
    } else if (!started) {
      this.logUpstream("info", "client prematurely closed connection while waiting for upstream");
      r.status = 499;
    }
    this.to("finished");
    this.attempt?.free("ok");
    this.attempt?.destroy();
    this.body.dispose();
    services.finalize(r, false);
  }

  /**
   * A throw in something this request ran: the upstream side is let go here
   * (socket closed, peer freed, body dropped); the request flow does the rest.
   */
  private crash(err: unknown): void {
    if (this.crashed) return;
    this.crashed = true;
    if (!this.over) this.to("finished");
    this.ctx.connection.onAbortHandler = undefined;
    this.abandonAttempt();
    this.body.dispose();
    this.ctx.services.crash(this.ctx.r, err);
  }

  /** After the request body, before the response head: where nginx's check_broken_connection would look. */
  private get waitsForUpstream(): boolean {
    return this.phase === "select peer" || tryUnderWay(this.phase);
  }

  private get upstreamUrl(): string {
    return upstreamUrlFor(this.ctx, this.record?.addr, this.attempt?.address.kind === "unix");
  }

  private logUpstream(level: LogLevel, message: string): void {
    const { r, services } = this.ctx;
    services.errorLogFor(r).log(level, message, r.logContext(undefined, this.upstreamUrl));
  }
}
