/**
 * The keep-alive rule (nginx's r->keepalive) piece by piece: the request's
 * wish, each location's say (sticky), the closing statuses, MSIE 6 POSTs,
 * and what the response writer writes for it.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { LocConf } from "../../src/config/model.js";
import {
  answeredBeforeHandler,
  connectionKept,
  enterLocation,
  enterNamedLocation,
  errorMet,
  keepAliveAllowed,
  msie6,
  statusForbidsKeepAlive,
} from "../../src/http/keep-alive.js";
import type { HttpRequest } from "../../src/http/request.js";
import { connectionLines, linesFor } from "../../src/http/response-writer.js";

interface FakeOptions {
  keepAlive?: boolean;
  requests?: number;
  method?: string;
  headers?: Array<[string, string]>;
  loc?: Partial<LocConf>;
  named?: Partial<LocConf>;
}

/** The fields of a request the rule reads. */
function request(options: FakeOptions = {}): HttpRequest {
  const loc = {
    keepaliveTimeoutMs: 75_000,
    keepaliveRequests: 1000,
    keepaliveHeaderSeconds: undefined,
    ...options.loc,
  };
  const named = { keepaliveTimeoutMs: 75_000, keepaliveRequests: 1000, ...options.named };
  return {
    facts: { keepAlive: options.keepAlive ?? true },
    keepAliveLost: false,
    loc,
    method: options.method ?? "GET",
    headers: options.headers ?? [],
    connection: { requests: options.requests ?? 1 },
    server: { locations: [{ modifier: "@", path: "@named", loc: named }] },
  } as unknown as HttpRequest;
}

const MSIE6 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)";

describe("keepAliveAllowed", () => {
  test("the request's own wish, before any location", () => {
    assert.equal(keepAliveAllowed(request()), true);
    assert.equal(keepAliveAllowed(request({ keepAlive: false })), false);
  });

  test("answered before the phases (a bad head, TRACE): never kept", () => {
    const r = request();
    answeredBeforeHandler(r);
    assert.equal(keepAliveAllowed(r), false);
  });

  test("keepalive_timeout 0 in a location the request went through stays lost", () => {
    const r = request({ loc: { keepaliveTimeoutMs: 0 } });
    enterLocation(r);
    (r as { loc: unknown }).loc = { keepaliveTimeoutMs: 75_000, keepaliveRequests: 1000 };
    enterLocation(r);
    assert.equal(keepAliveAllowed(r), false);
  });

  test("keepalive_requests reached: the request that reaches it closes", () => {
    const below = request({ requests: 1, loc: { keepaliveRequests: 2 } });
    enterLocation(below);
    assert.equal(keepAliveAllowed(below), true);
    const reached = request({ requests: 2, loc: { keepaliveRequests: 2 } });
    enterLocation(reached);
    assert.equal(keepAliveAllowed(reached), false);
  });

  test("a named location counts as a location entered", () => {
    const r = request({ named: { keepaliveTimeoutMs: 0 } });
    enterNamedLocation(r, "@named");
    assert.equal(keepAliveAllowed(r), false);
    const other = request({ named: { keepaliveTimeoutMs: 0 } });
    enterNamedLocation(other, "@other");
    assert.equal(keepAliveAllowed(other), true);
  });

  test("a POST from MSIE 4 to 6 (keepalive_disable msie6, nginx's default)", () => {
    const post = request({ method: "POST", headers: [["User-Agent", MSIE6]] });
    enterLocation(post);
    assert.equal(keepAliveAllowed(post), false);
    const get = request({ headers: [["User-Agent", MSIE6]] });
    enterLocation(get);
    assert.equal(keepAliveAllowed(get), true);
  });

  test("the special-response statuses, even when an error_page answers them", () => {
    for (const status of [400, 413, 414, 495, 496, 497, 500, 501]) {
      const r = request();
      errorMet(r, status);
      assert.equal(keepAliveAllowed(r), false, String(status));
      assert.equal(statusForbidsKeepAlive(status), true, String(status));
    }
    for (const status of [401, 403, 404, 405, 408, 502, 503, 504, 505]) {
      const r = request();
      errorMet(r, status);
      assert.equal(keepAliveAllowed(r), true, String(status));
    }
  });

  test("the connection is kept only where the final location has a keepalive_timeout", () => {
    assert.equal(connectionKept(request(), true), true);
    assert.equal(connectionKept(request(), false), false);
    assert.equal(connectionKept(request({ loc: { keepaliveTimeoutMs: 0 } }), true), false);
  });
});

describe("msie6 (ngx_http_process_user_agent)", () => {
  test("MSIE 4, 5, 6 but 6 with SV1; not Opera; not MSIE 7", () => {
    const is = (agent: string): boolean => msie6([["User-Agent", agent]]);
    assert.equal(is(MSIE6), true);
    assert.equal(is("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)"), true);
    assert.equal(is("Mozilla/4.0 (compatible; MSIE 4.01; Windows 95)"), true);
    assert.equal(is("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"), false);
    assert.equal(is("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"), false);
    assert.equal(is("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0) Opera 7.23"), false);
    assert.equal(is("MSIE 6."), false);
    assert.equal(msie6([]), false);
  });

  test("the first User-Agent line is the one read", () => {
    assert.equal(
      msie6([
        ["User-Agent", "curl/8"],
        ["User-Agent", MSIE6],
      ]),
      false,
    );
  });
});

describe("the writer's Connection lines", () => {
  test("keep-alive, with Keep-Alive: timeout=N when keepalive_timeout has a second value", () => {
    assert.deepEqual(connectionLines(request()).lines, [["Connection", "keep-alive"]]);
    assert.deepEqual(connectionLines(request({ loc: { keepaliveHeaderSeconds: 7 } })).lines, [
      ["Connection", "keep-alive"],
      ["Keep-Alive", "timeout=7"],
    ]);
  });

  test("close, and never a Keep-Alive line then", () => {
    const r = request({ keepAlive: false, loc: { keepaliveHeaderSeconds: 7 } });
    assert.deepEqual(connectionLines(r), { keepAlive: false, lines: [["Connection", "close"]] });
    assert.deepEqual(linesFor(false, 7), [["Connection", "close"]]);
  });

  test("a body ended by the close leaves nothing to keep (the chunked filter)", () => {
    const r = request();
    assert.deepEqual(connectionLines(r, "close"), { keepAlive: false, lines: [["Connection", "close"]] });
    assert.equal(keepAliveAllowed(r), false);
  });

  test("a 101 says upgrade, and the connection serves no other request", () => {
    assert.deepEqual(connectionLines(request(), "upgrade"), { keepAlive: false, lines: [["Connection", "upgrade"]] });
  });
});
