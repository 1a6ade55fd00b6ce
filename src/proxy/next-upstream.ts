/**
 * proxy_next_upstream: when a failed try may go on to the next peer, after
 * ngx_http_upstream_next() and ngx_http_upstream_test_next().
 *
 * A try fails by an error, a timeout, an invalid response head, or (only
 * when listed) a response status of 500, 502, 503, 504, 403, 404 or 429. It
 * goes on when the condition is listed, tries are left, the request is not a
 * non-idempotent one already sent (POST, LOCK, PATCH need non_idempotent),
 * its body can be sent again, and proxy_next_upstream_timeout has not passed.
 */

import type { NextUpstreamCondition } from "../config/model.js";

export type TryFailure = Exclude<NextUpstreamCondition, "non_idempotent" | "off" | "updating">;

/** The statuses proxy_next_upstream can name (ngx_http_upstream_next_errors). */
const STATUS_FAILURES: ReadonlyMap<number, TryFailure> = new Map([
  [500, "http_500"],
  [502, "http_502"],
  [503, "http_503"],
  [504, "http_504"],
  [403, "http_403"],
  [404, "http_404"],
  [429, "http_429"],
]);

export function statusFailure(status: number): TryFailure | undefined {
  return STATUS_FAILURES.get(status);
}

/** The status the client gets when this failure ends the request (ngx_http_upstream_next's switch). */
export function failureStatus(failure: TryFailure): number {
  switch (failure) {
    case "timeout":
    case "http_504":
      return 504;
    case "http_500":
      return 500;
    case "http_503":
      return 503;
    case "http_403":
      return 403;
    case "http_404":
      return 404;
    case "http_429":
      return 429;
    default:
      return 502;
  }
}

/** 403 and 404 are never held against the peer (NGX_PEER_NEXT); the rest count as failures. */
export function countsAsFailure(failure: TryFailure): boolean {
  return failure !== "http_403" && failure !== "http_404";
}

export function isNonIdempotent(method: string): boolean {
  return method === "POST" || method === "LOCK" || method === "PATCH";
}

export interface RetryFacts {
  readonly conditions: ReadonlySet<NextUpstreamCondition>;
  /** Tries left after this one (nginx's peer.tries once the peer was freed). */
  readonly triesLeft: number;
  /** Some of the request went to the upstream (nginx's u->request_sent). */
  readonly requestSent: boolean;
  readonly method: string;
  /** The request body can be sent again (it was read whole and kept, or there is none). */
  readonly bodyReplayable: boolean;
  readonly elapsedMs: number;
  /** proxy_next_upstream_timeout; 0 = none. */
  readonly timeoutMs: number;
}

export function mayRetry(failure: TryFailure, facts: RetryFacts): boolean {
  if (facts.triesLeft <= 0) return false;
  if (!facts.conditions.has(failure)) return false;
  if (facts.requestSent && isNonIdempotent(facts.method) && !facts.conditions.has("non_idempotent")) return false;
  if (facts.requestSent && !facts.bodyReplayable) return false;
  if (facts.timeoutMs > 0 && facts.elapsedMs >= facts.timeoutMs) return false;
  return true;
}

/** What the budget reads of a failed try. */
export interface FailedTry {
  /** Some of the request went to the upstream. */
  readonly requestSent: boolean;
  /** The connection came from the keepalive cache. */
  readonly reused: boolean;
}

/**
 * One request's tries (nginx's peer.tries and proxy_next_upstream_tries,
 * with proxy_next_upstream_timeout counted from the request's start): a try
 * that failed uses one up, except a cached connection the upstream had
 * closed; a group of one peer has no second try.
 */
export class TryBudget {
  private left: number;
  private readonly startMs = Date.now();

  constructor(
    groupTries: number,
    private readonly single: boolean,
    private readonly loc: {
      readonly proxyNextUpstream: ReadonlySet<NextUpstreamCondition>;
      readonly proxyNextUpstreamTries: number;
      readonly proxyNextUpstreamTimeoutMs: number;
    },
    private readonly method: string,
  ) {
    const limit = loc.proxyNextUpstreamTries;
    this.left = limit > 0 ? Math.min(limit, groupTries) : groupTries;
  }

  /** A listed status came (ngx_http_upstream_test_next): may another peer answer instead? The budget is not spent. */
  allowsAfterStatus(failure: TryFailure, attempt: FailedTry, bodyReplayable: boolean): boolean {
    return this.allows(failure, attempt, bodyReplayable, this.left - 1);
  }

  /** A try failed (ngx_http_upstream_next): spend it, and say whether the next peer may be tried. */
  spend(failure: TryFailure, attempt: FailedTry, bodyReplayable: boolean): boolean {
    this.left = this.single ? 0 : this.left - 1;
    // A cached connection the upstream had closed does not use up a try.
    if (attempt.reused && failure === "error") this.left++;
    return this.allows(failure, attempt, bodyReplayable, this.left);
  }

  private allows(failure: TryFailure, attempt: FailedTry, bodyReplayable: boolean, triesLeft: number): boolean {
    return mayRetry(failure, {
      conditions: this.loc.proxyNextUpstream,
      triesLeft,
      requestSent: attempt.requestSent,
      method: this.method,
      bodyReplayable,
      elapsedMs: Date.now() - this.startMs,
      timeoutMs: this.loc.proxyNextUpstreamTimeoutMs,
    });
  }
}
