/**
 * proxy_next_upstream's decision (ngx_http_upstream_next and
 * ngx_http_upstream_test_next): each condition of mayRetry() alone, the
 * status each failure stands for, and which failures count against a peer.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { NextUpstreamCondition } from "../../src/config/model.js";
import {
  countsAsFailure,
  failureStatus,
  isNonIdempotent,
  mayRetry,
  statusFailure,
  type RetryFacts,
  type TryFailure,
} from "../../src/proxy/next-upstream.js";

/** A retry every condition allows: a GET not yet sent, tries left, no timeout. */
function facts(
  changes: Partial<RetryFacts> = {},
  conditions: NextUpstreamCondition[] = ["error", "timeout"],
): RetryFacts {
  return {
    conditions: new Set(conditions),
    triesLeft: 1,
    requestSent: false,
    method: "GET",
    bodyReplayable: true,
    elapsedMs: 0,
    timeoutMs: 0,
    ...changes,
  };
}

describe("mayRetry", () => {
  test("error and timeout are retried by default (proxy_next_upstream error timeout)", () => {
    assert.equal(mayRetry("error", facts()), true);
    assert.equal(mayRetry("timeout", facts()), true);
  });

  test("a failure goes on only when its condition is listed", () => {
    assert.equal(mayRetry("invalid_header", facts()), false);
    assert.equal(mayRetry("invalid_header", facts({}, ["invalid_header"])), true);
    assert.equal(mayRetry("error", facts({}, ["timeout"])), false);
    assert.equal(mayRetry("timeout", facts({}, ["error"])), false);
    assert.equal(mayRetry("error", facts({}, ["off"])), false);
  });

  const statuses: ReadonlyArray<readonly [TryFailure, number]> = [
    ["http_500", 500],
    ["http_502", 502],
    ["http_503", 503],
    ["http_504", 504],
    ["http_403", 403],
    ["http_404", 404],
    ["http_429", 429],
  ];
  for (const [failure, status] of statuses) {
    test(`${failure}: retried only when listed; the client gets ${status} when it ends the request`, () => {
      assert.equal(statusFailure(status), failure);
      assert.equal(mayRetry(failure, facts()), false);
      assert.equal(mayRetry(failure, facts({}, [failure])), true);
      assert.equal(failureStatus(failure), status);
    });
  }

  test("no tries left: no retry, whatever is listed", () => {
    assert.equal(mayRetry("error", facts({ triesLeft: 0 })), false);
    assert.equal(mayRetry("error", facts({ triesLeft: -1 })), false);
    assert.equal(mayRetry("error", facts({ triesLeft: 2 })), true);
  });

  test("a non-idempotent request already sent needs non_idempotent", () => {
    for (const method of ["POST", "LOCK", "PATCH"]) {
      assert.equal(isNonIdempotent(method), true);
      assert.equal(mayRetry("error", facts({ method, requestSent: true })), false, method);
      assert.equal(mayRetry("error", facts({ method, requestSent: true }, ["error", "non_idempotent"])), true, method);
      // Not sent yet (a connect failure): it may go on without non_idempotent.
      assert.equal(mayRetry("error", facts({ method, requestSent: false })), true, method);
    }
    for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]) {
      assert.equal(isNonIdempotent(method), false);
      assert.equal(mayRetry("error", facts({ method, requestSent: true })), true, method);
    }
  });

  test("a body that cannot be sent again stops a retry once the request was sent", () => {
    assert.equal(mayRetry("error", facts({ requestSent: true, bodyReplayable: false })), false);
    assert.equal(mayRetry("error", facts({ requestSent: false, bodyReplayable: false })), true);
    assert.equal(mayRetry("error", facts({ requestSent: true, bodyReplayable: true })), true);
  });

  test("proxy_next_upstream_timeout: no retry once it has passed; 0 is no limit", () => {
    assert.equal(mayRetry("error", facts({ timeoutMs: 1000, elapsedMs: 999 })), true);
    assert.equal(mayRetry("error", facts({ timeoutMs: 1000, elapsedMs: 1000 })), false);
    assert.equal(mayRetry("error", facts({ timeoutMs: 0, elapsedMs: 1e9 })), true);
  });

  test("the other failures end with 502 (error, invalid_header) or 504 (timeout)", () => {
    assert.equal(failureStatus("error"), 502);
    assert.equal(failureStatus("invalid_header"), 502);
    assert.equal(failureStatus("timeout"), 504);
    assert.equal(statusFailure(200), undefined);
    assert.equal(statusFailure(501), undefined);
  });

  test("403 and 404 are not held against the peer (NGX_PEER_NEXT); the rest are", () => {
    assert.equal(countsAsFailure("http_403"), false);
    assert.equal(countsAsFailure("http_404"), false);
    for (const failure of [
      "error",
      "timeout",
      "invalid_header",
      "http_500",
      "http_502",
      "http_503",
      "http_504",
      "http_429",
    ] as const) {
      assert.equal(countsAsFailure(failure), true, failure);
    }
  });
});
