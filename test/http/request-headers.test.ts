/**
 * The header checks after the head is read: Host, Content-Length,
 * Transfer-Encoding, Connection, with nginx's statuses (checked against
 * nginx: see the comments for what it answered).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { requestFacts, type FactsResult, type RequestFacts } from "../../src/http/request-headers.js";
import type { RequestHead } from "../../src/http/request-head.js";

function facts(
  headers: Array<[string, string]>,
  options: { version?: number; target?: string; method?: string } = {},
): FactsResult {
  const version = options.version ?? 1001;
  const target = options.target ?? "/";
  const method = options.method ?? "GET";
  const protocol = version === 1000 ? "HTTP/1.0" : "HTTP/1.1";
  const head: RequestHead = {
    method,
    target,
    requestLine: `${method} ${target} ${protocol}`,
    protocol,
    version,
    headers,
    length: 0,
  };
  return requestFacts(head);
}

function ok(result: FactsResult): RequestFacts {
  assert.ok("ok" in result, `refused: ${JSON.stringify(result)}`);
  return result.ok;
}

function refusal(result: FactsResult): { status: number; reason: string } {
  assert.ok("status" in result, `accepted: ${JSON.stringify(result)}`);
  return result;
}

describe("Host", () => {
  test("lower-cased, without port or trailing dot; IPv6 literals keep their brackets", () => {
    assert.equal(ok(facts([["Host", "Example.COM:8080"]])).host, "example.com");
    assert.equal(ok(facts([["Host", "example.com."]])).host, "example.com");
    assert.equal(ok(facts([["Host", "[::1]:8080"]])).host, "[::1]");
  });

  test("a duplicate Host is 400", () => {
    assert.deepEqual(
      refusal(
        facts([
          ["Host", "a"],
          ["host", "a"],
        ]),
      ),
      // nginx's words, at level info.
      { status: 400, reason: `client sent duplicate host header: "host: a", previous value: "Host: a"` },
    );
  });

  test("an invalid Host is 400: '..', '/', control characters, empty (nginx: `Host: ` is 400); a '\\' passes, as on Linux", () => {
    assert.equal(ok(facts([["Host", "a\\b"]])).host, "a\\b");
    for (const value of ["a..b", "a/b", "a\x01b", "", "."]) {
      assert.deepEqual(
        refusal(facts([["Host", value]])),
        { status: 400, reason: "client sent invalid host header" },
        JSON.stringify(value),
      );
      assert.equal(refusal(facts([["Host", value]], { version: 1000 })).status, 400, "on HTTP/1.0 too");
    }
  });

  test("HTTP/1.1 without Host is 400; HTTP/1.0 without Host has the host ''", () => {
    assert.deepEqual(refusal(facts([])), {
      status: 400,
      reason: `client sent HTTP/1.1 request without "Host" header`,
    });
    assert.equal(ok(facts([], { version: 1000 })).host, "");
  });

  test("an absolute-form target's host wins over the Host header", () => {
    const result = ok(facts([["Host", "other.test"]], { target: "http://Abs.Test:8080/x" }));
    assert.equal(result.host, "abs.test");
  });

  test("an absolute-form target does not excuse a missing Host on HTTP/1.1 (nginx: 400)", () => {
    assert.equal(refusal(facts([], { target: "http://abs.test/x" })).status, 400);
    assert.equal(ok(facts([], { target: "http://abs.test/x", version: 1000 })).host, "abs.test");
  });
});

describe("Content-Length", () => {
  test("digits only: the length; 0 means no body", () => {
    assert.deepEqual(
      ok(
        facts([
          ["Host", "h"],
          ["Content-Length", "5"],
        ]),
      ).framing,
      { kind: "length", length: 5 },
    );
    assert.deepEqual(
      ok(
        facts([
          ["Host", "h"],
          ["Content-Length", "007"],
        ]),
      ).framing,
      { kind: "length", length: 7 },
    );
    assert.deepEqual(
      ok(
        facts([
          ["Host", "h"],
          ["Content-Length", "0"],
        ]),
      ).framing,
      { kind: "none" },
    );
    assert.deepEqual(ok(facts([["Host", "h"]])).framing, { kind: "none" });
  });

  test("a sign, hex, spaces inside, empty or an overflowing number is 400", () => {
    for (const value of ["+1", "-1", "0x10", "1 2", "", "1x", "99999999999999999999999"]) {
      assert.deepEqual(
        refusal(
          facts([
            ["Host", "h"],
            ["Content-Length", value],
          ]),
        ),
        { status: 400, reason: `client sent invalid "Content-Length" header` },
        JSON.stringify(value),
      );
    }
  });

  test("a duplicate Content-Length is 400, even with the same value", () => {
    const result = refusal(
      facts([
        ["Host", "h"],
        ["Content-Length", "1"],
        ["content-length", "1"],
      ]),
    );
    assert.equal(result.status, 400);
    // nginx: client sent duplicate header line: "Content-Length: 1", previous value: "Content-Length: 1"
    assert.equal(
      result.reason,
      `client sent duplicate header line: "content-length: 1", previous value: "Content-Length: 1"`,
    );
  });
});

describe("Transfer-Encoding", () => {
  test("chunked, in any case", () => {
    assert.deepEqual(
      ok(
        facts([
          ["Host", "h"],
          ["Transfer-Encoding", "chunked"],
        ]),
      ).framing,
      { kind: "chunked" },
    );
    assert.deepEqual(
      ok(
        facts([
          ["Host", "h"],
          ["Transfer-Encoding", "Chunked"],
        ]),
      ).framing,
      { kind: "chunked" },
    );
  });

  test("anything but chunked is 501", () => {
    for (const value of ["identity", "gzip", "gzip, chunked", "chunked, chunked"]) {
      assert.deepEqual(
        refusal(
          facts([
            ["Host", "h"],
            ["Transfer-Encoding", value],
          ]),
        ),
        { status: 501, reason: `client sent unknown "Transfer-Encoding": "${value}"` },
        value,
      );
    }
  });

  test("with Content-Length: chunked is 400; another coding is still 501 (nginx answers 501)", () => {
    const both = (te: string) =>
      facts([
        ["Host", "h"],
        ["Content-Length", "3"],
        ["Transfer-Encoding", te],
      ]);
    assert.deepEqual(refusal(both("chunked")), {
      status: 400,
      reason: `client sent "Content-Length" and "Transfer-Encoding" headers at the same time`,
    });
    assert.equal(refusal(both("identity")).status, 501);
  });

  test("an invalid Content-Length is found first, whatever Transfer-Encoding says", () => {
    const result = facts([
      ["Host", "h"],
      ["Content-Length", "1x"],
      ["Transfer-Encoding", "identity"],
    ]);
    assert.deepEqual(refusal(result), { status: 400, reason: `client sent invalid "Content-Length" header` });
  });

  test("on HTTP/1.0 it is 400", () => {
    assert.deepEqual(refusal(facts([["Transfer-Encoding", "chunked"]], { version: 1000 })), {
      status: 400,
      reason: `client sent HTTP/1.0 request with "Transfer-Encoding" header`,
    });
  });

  test("a duplicate Transfer-Encoding is 400", () => {
    const result = facts([
      ["Host", "h"],
      ["Transfer-Encoding", "chunked"],
      ["Transfer-Encoding", "chunked"],
    ]);
    assert.equal(refusal(result).status, 400);
  });
});

describe("Connection, Upgrade, Expect", () => {
  test("HTTP/1.1 keeps the connection unless Connection says close", () => {
    assert.equal(ok(facts([["Host", "h"]])).keepAlive, true);
    assert.equal(
      ok(
        facts([
          ["Host", "h"],
          ["Connection", "close"],
        ]),
      ).keepAlive,
      false,
    );
    assert.equal(
      ok(
        facts([
          ["Host", "h"],
          ["Connection", "Keep-Alive, Close"],
        ]),
      ).keepAlive,
      false,
    );
    assert.equal(
      ok(
        facts([
          ["Host", "h"],
          ["Connection", "Upgrade"],
        ]),
      ).keepAlive,
      true,
    );
  });

  test("HTTP/1.0 closes unless Connection says keep-alive", () => {
    assert.equal(ok(facts([], { version: 1000 })).keepAlive, false);
    assert.equal(ok(facts([["Connection", "keep-alive"]], { version: 1000 })).keepAlive, true);
    assert.equal(ok(facts([["Connection", "Keep-Alive"]], { version: 1000 })).keepAlive, true);
  });

  test("an Upgrade header makes a tunnel possible; Expect: 100-continue is noted", () => {
    const result = ok(
      facts([
        ["Host", "h"],
        ["Upgrade", "websocket"],
        ["Expect", "100-Continue"],
      ]),
    );
    assert.equal(result.upgrade, true);
    assert.equal(result.expectContinue, true);
    const plain = ok(facts([["Host", "h"]]));
    assert.deepEqual([plain.upgrade, plain.expectContinue], [false, false]);
  });
});
