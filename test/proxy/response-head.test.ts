/**
 * The upstream's response head: status line, headers, where the body
 * starts, the proxy_buffer_size limit, and nginx's refusals with its words.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { parseResponseHead, type ResponseHead, type ResponseParse } from "../../src/proxy/response-head.js";

function parse(text: string, limit = 4096): ResponseParse {
  return parseResponseHead(Buffer.from(text, "latin1"), limit);
}

function head(text: string, limit = 4096): ResponseHead {
  const result = parse(text, limit);
  assert.equal(result.kind, "head", `${JSON.stringify(text)} gave ${JSON.stringify(result)}`);
  return (result as { head: ResponseHead }).head;
}

function errorOf(text: string, limit = 4096): string {
  const result = parse(text, limit);
  assert.equal(result.kind, "error", `${JSON.stringify(text)} gave ${JSON.stringify(result)}`);
  return (result as { reason: string }).reason;
}

describe("parseResponseHead", () => {
  test("status, reason phrase as written, version, headers in order with values trimmed, head length", () => {
    const text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A:   v w  \r\nx-a: 2\r\n\r\n";
    const parsed = head(text + "body");
    assert.equal(parsed.status, 200);
    assert.equal(parsed.statusText, "200 OK");
    assert.equal(parsed.version, 1001);
    assert.deepEqual(parsed.headers, [
      ["Content-Type", "text/plain"],
      ["X-A", "v w"],
      ["x-a", "2"],
    ]);
    assert.equal(parsed.length, text.length);
  });

  test("the upstream's reason phrase is kept, an absent one too", () => {
    assert.equal(head("HTTP/1.1 404 Nothing  Here\r\n\r\n").statusText, "404 Nothing  Here");
    assert.equal(head("HTTP/1.1 299\r\n\r\n").statusText, "299");
    assert.equal(head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").status, 101);
  });

  test("HTTP/1.0 upstreams", () => {
    assert.equal(head("HTTP/1.0 200 OK\r\n\r\n").version, 1000);
  });

  test("upstreams may end lines with a bare LF", () => {
    const parsed = head("HTTP/1.0 503 Busy\nRetry-After: 5\n\nbody");
    assert.deepEqual([parsed.status, parsed.headers, parsed.length], [503, [["Retry-After", "5"]], 34]);
  });

  test("every proper prefix is incomplete", () => {
    const text = "HTTP/1.1 200 OK\r\nA: 1\r\n\r\n";
    for (let end = 0; end < text.length; end++) assert.equal(parse(text.slice(0, end)).kind, "incomplete");
  });

  test("a head larger than proxy_buffer_size is 'too big', complete or not", () => {
    const text = `HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(100)}\r\n\r\n`;
    assert.equal(errorOf(text, 64), "upstream sent too big header");
    assert.equal(errorOf(text.slice(0, 80), 64), "upstream sent too big header");
    assert.equal(parse(text, text.length).kind, "head");
  });

  test("a status line that is not HTTP/x.y and three digits is refused", () => {
    for (const line of ["ICY 200 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/1.1 abc", "HTTP/1.1200 OK"]) {
      assert.equal(errorOf(`${line}\r\n\r\n`), "upstream sent no valid HTTP/1.0 header", line);
    }
  });

  test("a line without ':' is a header with an empty value (nginx passes `Foo: ` on)", () => {
    assert.deepEqual(head("HTTP/1.1 200 OK\r\nFoo\r\nA: 1\r\n\r\n").headers, [
      ["Foo", ""],
      ["A", "1"],
    ]);
  });

  test(`nginx's words for an invalid header: the line up to the bad byte, the byte in hex, "..."`, () => {
    assert.equal(errorOf("HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n"), `upstream sent invalid header: "Bad\\x20..."`);
    assert.equal(errorOf("HTTP/1.1 200 OK\r\n: v\r\n\r\n"), `upstream sent invalid header: "\\x3a..."`);
    assert.equal(errorOf("HTTP/1.1 200 OK\r\n folded\r\n\r\n"), `upstream sent invalid header: "\\x20..."`);
    assert.equal(errorOf("HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n"), `upstream sent invalid header: "X-A: a\\x00..."`);
    assert.equal(errorOf("HTTP/1.1 200 OK\r\nX\x7fY: 1\r\n\r\n"), `upstream sent invalid header: "X\\x7f..."`);
  });

  test("a bare CR inside a line is an invalid header, named up to where the value ended (no header injection)", () => {
    const refused = (lines: string): string => errorOf(`HTTP/1.1 302 Found\r\n${lines}\r\n\r\n`);
    assert.equal(
      refused("Location: /x\rSet-Cookie: sess=attacker"),
      `upstream sent invalid header: "Location: /x\\x0d..."`,
    );
    // nginx's header_end stops at the spaces before the CR.
    assert.equal(refused("Location: /x  \rX: 1"), `upstream sent invalid header: "Location: /x\\x20..."`);
    assert.equal(refused("Location:\rX: 1"), `upstream sent invalid header: "Location:\\x0d..."`);
    assert.equal(refused("Location\rX: 1"), `upstream sent invalid header: "Location\\x0d..."`);
    assert.equal(refused("A: 1\r\n\rX: 1"), `upstream sent invalid header: "\\x0d..."`);
    // With a bare LF after the CR's line, or CRs before the LF, the line is whole (nginx reads CR* LF).
    assert.deepEqual(head("HTTP/1.1 200 OK\r\nA: 1\r\r\nB: 2\n\r\n").headers, [
      ["A", "1"],
      ["B", "2"],
    ]);
    // Every byte nginx refuses, at the start of a line, in a name, in a value.
    for (let byte = 0; byte < 256; byte++) {
      const text = `HTTP/1.1 200 OK\r\nX${String.fromCharCode(byte)}Y: a${String.fromCharCode(byte)}b\r\n\r\n`;
      const result = parse(text);
      const refusedInName = byte <= 0x20 || byte === 0x7f;
      if (byte === 0x3a)
        assert.equal(result.kind, "head"); // "X:" then a value "Y: a:b"
      else if (byte === 0x0a)
        assert.equal(result.kind, "head"); // a bare LF ends the line
      else if (refusedInName) assert.equal(result.kind, "error", `byte ${byte}`);
      else assert.equal(result.kind, "head", `byte ${byte}`);
    }
  });

  test("a repeated status line (IIS) is skipped, as nginx skips it", () => {
    assert.deepEqual(head("HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nA: 1\r\n\r\n").headers, [["A", "1"]]);
  });

  test("every split of a head with bare LFs and CRs gives the same answer once whole, incomplete before", () => {
    const text = "HTTP/1.1 200 OK\nA:  1 \r\r\nB\nC: x\r\n\n";
    for (let end = 0; end < text.length; end++) assert.equal(parse(text.slice(0, end)).kind, "incomplete", `${end}`);
    const parsed = head(text + "rest");
    assert.deepEqual(parsed.headers, [
      ["A", "1"],
      ["B", ""],
      ["C", "x"],
    ]);
    assert.equal(parsed.length, text.length);
  });

  test("the headers that frame the body, as nginx 1.23+: one length of digits or one chunked coding, never both", () => {
    const refused = (headers: string): string => errorOf(`HTTP/1.1 200 OK\r\n${headers}\r\n\r\n`);
    assert.equal(
      refused("Content-Length: 3\r\nContent-Length: 5"),
      `upstream sent duplicate header line: "Content-Length: 5", previous value: "Content-Length: 3"`,
    );
    assert.equal(
      refused("Content-Length: 3\r\ncontent-length: 3"),
      `upstream sent duplicate header line: "content-length: 3", previous value: "Content-Length: 3"`,
    );
    assert.equal(
      refused("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
      `upstream sent duplicate header line: "Transfer-Encoding: chunked", previous value: "Transfer-Encoding: chunked"`,
    );
    const both = `upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`;
    assert.equal(refused("Content-Length: 3\r\nTransfer-Encoding: chunked"), both);
    assert.equal(refused("Transfer-Encoding: chunked\r\nContent-Length: 3"), both);
    for (const value of ["-1", "", "1a", "0x10", "+5", "1 2", "9223372036854775808"])
      assert.equal(
        refused(`Content-Length: ${value}`),
        `upstream sent invalid "Content-Length" header: "Content-Length: ${value}"`,
      );
    for (const value of ["gzip", "gzip, chunked", "chunked, gzip", "identity"])
      assert.equal(refused(`Transfer-Encoding: ${value}`), `upstream sent unknown "Transfer-Encoding": "${value}"`);
    // The first refusal in header order is the one reported.
    assert.equal(
      refused("Content-Length: x\r\nBad Name: 1"),
      `upstream sent invalid "Content-Length" header: "Content-Length: x"`,
    );
    assert.equal(head("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n").status, 200);
    assert.equal(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n").status, 200);
    assert.equal(head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").status, 204);
  });
});
