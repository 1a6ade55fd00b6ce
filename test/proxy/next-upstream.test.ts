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
  TryBudget,
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

describe("TryBudget", () => {
  const loc = (tries = 0, timeoutMs = 0) => ({
    proxyNextUpstream: new Set<NextUpstreamCondition>(["error", "timeout", "http_502"]),
    proxyNextUpstreamTries: tries,
    proxyNextUpstreamTimeoutMs: timeoutMs,
  });
  const fresh = { requestSent: true, reused: false };

  test("one try per peer: the last failure ends the request", () => {
    const budget = new TryBudget(3, false, loc(), "GET");
    assert.equal(budget.spend("error", fresh, true), true);
    assert.equal(budget.spend("timeout", fresh, true), true);
    assert.equal(budget.spend("error", fresh, true), false);
  });

  test("proxy_next_upstream_tries caps the peers' number", () => {
    const budget = new TryBudget(5, false, loc(2), "GET");
    assert.equal(budget.spend("error", fresh, true), true);
    assert.equal(budget.spend("error", fresh, true), false);
  });

  test("a group of one peer has no second try", () => {
    assert.equal(new TryBudget(1, true, loc(), "GET").spend("error", fresh, true), false);
  });

  test("a cached connection the upstream had closed does not use up a try; a timeout on one does", () => {
    const budget = new TryBudget(1, false, loc(), "GET");
    assert.equal(budget.spend("error", { requestSent: true, reused: true }, true), true);
    assert.equal(budget.spend("timeout", { requestSent: true, reused: true }, true), false);
  });

  test("a listed status looks at the tries left without spending one", () => {
    const budget = new TryBudget(2, false, loc(), "GET");
    assert.equal(budget.allowsAfterStatus("http_502", fresh, true), true);
    assert.equal(budget.allowsAfterStatus("http_502", fresh, true), true);
    assert.equal(budget.allowsAfterStatus("http_503", fresh, true), false, "not listed");
    assert.equal(budget.spend("http_502", fresh, true), true);
    assert.equal(budget.allowsAfterStatus("http_502", fresh, true), false, "the last peer answers as it is");
  });

  test("the request's method and body count as for mayRetry", () => {
    assert.equal(new TryBudget(3, false, loc(), "POST").spend("error", fresh, true), false);
    assert.equal(
      new TryBudget(3, false, loc(), "POST").spend("error", { requestSent: false, reused: false }, true),
      true,
    );
    assert.equal(new TryBudget(3, false, loc(), "PUT").spend("error", fresh, false), false);
  });
});
