/**
 * Request heads from raw bytes: complete and incomplete heads, nginx's limits
 * (414, 494), its refusals (400, 505) and the header lines it ignores.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { parseRequestHead, type HeadLimits, type HeadParse, type RequestHead } from "../../src/http/request-head.js";

const LIMITS: HeadLimits = {
  clientHeaderBufferSize: 1024,
  largeClientHeaderBuffers: { count: 4, size: 8192 },
  maxHeaders: 1000,
  ignoreInvalidHeaders: true,
  underscoresInHeaders: false,
};

function parse(text: string, limits: Partial<HeadLimits> = {}): HeadParse {
  return parseRequestHead(Buffer.from(text, "latin1"), { ...LIMITS, ...limits });
}

function head(text: string, limits: Partial<HeadLimits> = {}): RequestHead {
  const result = parse(text, limits);
  assert.equal(result.kind, "head", `${JSON.stringify(text)} gave ${JSON.stringify(result)}`);
  return (result as { head: RequestHead }).head;
}

function status(text: string, limits: Partial<HeadLimits> = {}): number | string {
  const result = parse(text, limits);
  return result.kind === "error" ? result.status : result.kind;
}

describe("complete and incomplete heads", () => {
  test("a complete head: request line, headers in order, length up to the blank line", () => {
    const text = "POST /a/b?x=1 HTTP/1.1\r\nHost: example.test\r\nX-A: 1\r\nx-a:  2  \r\n\r\n";
    const parsed = head(text + "body bytes");
    assert.equal(parsed.method, "POST");
    assert.equal(parsed.target, "/a/b?x=1");
    assert.equal(parsed.requestLine, "POST /a/b?x=1 HTTP/1.1");
    assert.equal(parsed.protocol, "HTTP/1.1");
    assert.equal(parsed.version, 1001);
    assert.deepEqual(parsed.headers, [
      ["Host", "example.test"],
      ["X-A", "1"],
      ["x-a", "2"],
    ]);
    assert.equal(parsed.length, Buffer.byteLength(text));
  });

  test("HTTP/1.0 and an absolute-form target", () => {
    const parsed = head("GET http://example.test/x HTTP/1.0\r\n\r\n");
    assert.equal(parsed.version, 1000);
    assert.equal(parsed.protocol, "HTTP/1.0");
    assert.equal(parsed.target, "http://example.test/x");
    assert.deepEqual(parsed.headers, []);
  });

  test("every proper prefix of a valid head is incomplete", () => {
    const text = "GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\n\r\n";
    for (let end = 0; end < text.length; end++) {
      assert.equal(status(text.slice(0, end)), "incomplete", JSON.stringify(text.slice(0, end)));
    }
    assert.equal(status(text), "head");
  });

  test("empty lines before the request line are skipped (and counted as consumed)", () => {
    const parsed = head("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(parsed.requestLine, "GET / HTTP/1.1");
    assert.equal(parsed.length, 4 + 16 + 9 + 2);
    assert.equal(status("\r\n\r\n"), "incomplete");
  });

  test("values keep bytes above 0x7f; leading and trailing spaces are trimmed, tabs are not (as nginx)", () => {
    const parsed = head("GET / HTTP/1.1\r\nX-Name:  caf\xe9 au lait  \r\nX-Tab:\t b \t\r\n\r\n");
    assert.deepEqual(parsed.headers, [
      ["X-Name", "caf\xe9 au lait"],
      ["X-Tab", "\t b \t"],
    ]);
  });

  test("several spaces between the request line's parts are allowed", () => {
    assert.equal(head("GET  /x   HTTP/1.1\r\nHost: h\r\n\r\n").target, "/x");
  });
});

describe("line endings", () => {
  test("a bare LF ends a line as CRLF does, as in nginx (RFC 9112 2.2)", () => {
    const parsed = head("GET /a HTTP/1.1\nHost: h\nX-A:  1 \n\nbody");
    assert.equal(parsed.requestLine, "GET /a HTTP/1.1");
    assert.deepEqual(parsed.headers, [
      ["Host", "h"],
      ["X-A", "1"],
    ]);
    assert.equal(parsed.length, "GET /a HTTP/1.1\nHost: h\nX-A:  1 \n\n".length);
    assert.equal(head("GET / HTTP/1.1\r\nHost: h\n\r\n").length, 26);
    assert.equal(head("GET / HTTP/1.1\r\nHost: h\r\n\n").length, 26);
    assert.equal(head("GET / HTTP/1.1 \nHost: h\n\n").protocol, "HTTP/1.1");
    assert.equal(status("GET / HTTP/1.1\n"), "incomplete");
  });

  test("CRs and LFs before the request line are skipped in any order (nginx's sw_start)", () => {
    assert.equal(head("\nGET / HTTP/1.1\r\n\r\n").length, 19);
    assert.equal(head("\r\rGET / HTTP/1.1\r\n\r\n").requestLine, "GET / HTTP/1.1");
    assert.equal(head("\r\n\nGET / HTTP/1.1\nHost: h\n\n").requestLine, "GET / HTTP/1.1");
  });

  test("a header line may end in several CRs before its LF; the request line and the empty line in one", () => {
    assert.deepEqual(head("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n").headers, [["Host", "h"]]);
    assert.deepEqual(parse("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n"), {
      kind: "error",
      status: 400,
      reason: "client sent invalid request",
    });
    assert.equal(status("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), 400);
    assert.equal(status("GET / HTTP/1.1\r\nHost: h\r\n\r\r"), 400, "at once");
  });

  test("NUL in a header line is refused", () => {
    assert.equal(status("GET / HTTP/1.1\nX\0: 1\n\n"), 400);
    assert.equal(status("GET / HTTP/1.1\nX: a\0b\n\n"), 400);
    assert.equal(status("GET /\0 HTTP/1.1\n\n"), 400);
  });

  test("a CR not followed by LF is refused", () => {
    assert.equal(status("GET / HTTP/1.1\rX"), 400);
    assert.equal(status("GET /a\rb HTTP/1.1\r\n\r\n"), 400);
    assert.equal(status("GET / HTTP/1.1\r\nHost: h\rX-A: 1\r\n\r\n"), 400);
    assert.equal(status("GET / HTTP/1.1\r\nHost: h\r\n\rX"), 400);
    assert.equal(status("GET / HTTP/1.1\nHost: h\rX-A: 1\n\n"), 400, "nor with bare LFs: never two headers");
    assert.equal(status("GET / HTTP/1.1\nHost: h\r\rX-A: 1\n\n"), 400);
    assert.equal(status("GET / HTTP/1.1\rX\nHost: h\n\n"), 400);
  });
});

describe("limits", () => {
  const small = { clientHeaderBufferSize: 64, largeClientHeaderBuffers: { count: 2, size: 64 } };

  test("a request line longer than a large buffer is 414, complete or not", () => {
    const target = "/" + "a".repeat(70);
    assert.deepEqual(parse(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, small), {
      kind: "error",
      status: 414,
      reason: "client sent too long URI",
    });
    assert.equal(status(`GET ${target}`, small), 414);
    assert.equal(status(`GET /${"a".repeat(40)} HTTP/1.1\r\nHost: h\r\n\r\n`, small), "head");
  });

  test("the request line may fill the buffer exactly, CRLF included", () => {
    const line = "GET /" + "a".repeat(64 - 2 - 5 - 9) + " HTTP/1.1";
    assert.equal(line.length + 2, 64);
    assert.equal(status(`${line}\r\nHost: h\r\n\r\n`, small), "head");
    assert.equal(status(`${line.replace("/", "/b")}\r\nHost: h\r\n\r\n`, small), 414);
  });

  test("a header line longer than a large buffer is 494 (sent as 400), complete or not", () => {
    const long = "X-Long: " + "v".repeat(70);
    const result = parse(`GET / HTTP/1.1\r\n${long}\r\n\r\n`, small);
    assert.deepEqual(result, {
      kind: "error",
      status: 494,
      reason: "client sent too long header line",
      requestLine: "GET / HTTP/1.1",
    });
    assert.equal(status(`GET / HTTP/1.1\r\n${long}`, small), 494);
  });

  test("a head that needs more large buffers than there are is 494, counting the bytes a boundary wastes", () => {
    // 16-byte request line, 40-byte headers: the first buffer ends mid-header at 64, the line is
    // copied to a large buffer that ends at 120, mid-header again, and the next ends at 160.
    const header = "X-H: " + "v".repeat(33) + "\r\n";
    assert.equal(header.length, 40);
    assert.equal(status(`GET / HTTP/1.1\r\n${header.repeat(3)}\r\n`, small), "head");
    const four = `GET / HTTP/1.1\r\n${header.repeat(4)}\r\n`;
    assert.ok(four.length < 64 + 2 * 64, "fewer bytes than the buffers hold in all");
    assert.equal(status(four, small), 494);
    assert.equal(status(four.slice(0, -10), small), 494, "incomplete too");
  });

  test("max_headers: the header line past the limit is 494 'too many header lines'; ignored lines do not count", () => {
    const lines = (n: number, name = "X-H"): string =>
      Array.from({ length: n }, (_, i) => `${name}${i}: 1\r\n`).join("");
    assert.equal(status(`GET / HTTP/1.1\r\n${lines(3)}\r\n`, { maxHeaders: 3 }), "head");
    assert.deepEqual(parse(`GET / HTTP/1.1\r\n${lines(4)}\r\n`, { maxHeaders: 3 }), {
      kind: "error",
      status: 494,
      reason: "client sent too many header lines",
      requestLine: "GET / HTTP/1.1",
    });
    assert.equal(status(`GET / HTTP/1.1\r\n${lines(3)}${lines(5, "X_U")}\r\n`, { maxHeaders: 3 }), "head");
    assert.equal(status(`GET / HTTP/1.1\r\n${lines(1000)}\r\n`), "head", "nginx's default is 1000");
    assert.equal(status(`GET / HTTP/1.1\r\n${lines(1001)}\r\n`), 494);
  });

  test("a line that ends exactly at a buffer's end is not copied (nginx's parser state 0)", () => {
    const first = "X-A: " + "v".repeat(64 - 16 - 7) + "\r\n";
    assert.equal(16 + first.length, 64);
    const full = "X-B: " + "v".repeat(64 - 7) + "\r\n";
    assert.equal(status(`GET / HTTP/1.1\r\n${first}${full}${full.slice(0, -4)}\r\n\r\n`, small), "head");
  });
});

describe("the request line", () => {
  test("methods are upper-case letters, '_' and '-'; anything else is 400 'invalid method'", () => {
    assert.equal(head("M-SEARCH / HTTP/1.1\r\n\r\n").method, "M-SEARCH");
    assert.equal(head("_X / HTTP/1.1\r\n\r\n").method, "_X");
    for (const method of ["get", "G3T", "GE.T", "Get"]) {
      const result = parse(`${method} / HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert.deepEqual(result, {
        kind: "error",
        status: 400,
        reason: "client sent invalid method",
        requestLine: `${method} / HTTP/1.1`,
      });
    }
  });

  test("HTTP/2.0 and above are 505", () => {
    assert.equal(status("GET / HTTP/2.0\r\n\r\n"), 505);
    assert.equal(status("GET / HTTP/3.1\r\n\r\n"), 505);
  });

  test("a malformed version, a missing part or an extra one is 400", () => {
    for (const line of ["GET / HTTP/1", "GET / HTTP/1.1 x", "GET / http/1.1", "GET / HTTP/1.x", "GET"]) {
      assert.equal(status(`${line}\r\nHost: h\r\n\r\n`), 400, line);
    }
  });

  test("a target that is neither origin-form nor absolute-form is 400", () => {
    assert.equal(status("GET x HTTP/1.1\r\n\r\n"), 400);
    assert.equal(status("GET /a\x01b HTTP/1.1\r\n\r\n"), 400);
    assert.equal(status("GET /a\x7fb HTTP/1.1\r\n\r\n"), 400);
  });
});

describe("header lines", () => {
  const request = (line: string) => `GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`;
  const headersOf = (line: string, limits: Partial<HeadLimits> = {}) => head(request(line), limits).headers.slice(1);

  test("a name with characters other than letters, digits and '-' is dropped with ignore_invalid_headers", () => {
    assert.deepEqual(headersOf("X@Y: 1"), []);
    assert.deepEqual(headersOf("X.Y: 1"), []);
    assert.deepEqual(headersOf("X@Y: 1", { ignoreInvalidHeaders: false }), [["X@Y", "1"]]);
  });

  test("underscores are invalid unless underscores_in_headers", () => {
    assert.deepEqual(headersOf("X_Y: 1"), []);
    assert.deepEqual(headersOf("X_Y: 1", { underscoresInHeaders: true }), [["X_Y", "1"]]);
    assert.deepEqual(headersOf("X_Y: 1", { ignoreInvalidHeaders: false }), [["X_Y", "1"]]);
  });

  test("a space or control character in the name is 400, whatever ignore_invalid_headers says", () => {
    for (const line of ["Host : h", "X\tY: 1", "X\x01Y: 1", "X Y: 1"]) {
      assert.deepEqual(
        parse(request(line), { ignoreInvalidHeaders: true }),
        { kind: "error", status: 400, reason: "client sent invalid header line", requestLine: "GET / HTTP/1.1" },
        JSON.stringify(line),
      );
    }
  });

  test("a NUL in the value is 400", () => {
    assert.equal(status(request("X-A: a\x00b")), 400);
  });

  test("an obs-fold continuation line is 400", () => {
    assert.equal(status("GET / HTTP/1.1\r\nX-A: a\r\n  continued\r\n\r\n"), 400);
    assert.equal(status("GET / HTTP/1.1\r\nX-A: a\r\n\tcontinued\r\n\r\n"), 400);
  });

  test("an empty name is 400", () => {
    assert.equal(status(request(": value")), 400);
  });

  test("a line without ':' is a header with an empty value, as nginx passes it on", () => {
    assert.deepEqual(headersOf("Foo"), [["Foo", ""]]);
    assert.deepEqual(headersOf("Fo@o"), [], "an invalid name is still ignored");
    assert.equal(status(request("Foo ")), 400, "a space in the name is still refused");
  });
});
