/**
 * The parsers behind conditional and range requests, on their own:
 * ngx_parse_http_time() over the three HTTP date formats and what it refuses,
 * ngx_http_range_parse() over the forms of a byte-range set, and the ETag
 * list matching of If-Match / If-None-Match.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { etagMatches, parseHttpTime } from "../../src/static/conditional.js";
import { multipart, parseRanges } from "../../src/static/ranges.js";
import { contentTypeFor, uriExtension } from "../../src/http/mime.js";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

describe("parseHttpTime", () => {
  test("RFC 1123, RFC 850 and asctime give the same second as Date, over seeded dates", () => {
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const seconds = next() % 4_000_000_000;
      const d = new Date(seconds * 1000);
      const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
      const month = MONTHS[d.getUTCMonth()]!;
      const rfc1123 = `${DAYS[d.getUTCDay()]!.slice(0, 3)}, ${pad(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${time} GMT`;
      assert.equal(parseHttpTime(rfc1123), seconds, rfc1123);
      const asctime = `${DAYS[d.getUTCDay()]!.slice(0, 3)} ${month} ${String(d.getUTCDate()).padStart(2, " ")} ${time} ${d.getUTCFullYear()}`;
      assert.equal(parseHttpTime(asctime), seconds, asctime);
      const year = d.getUTCFullYear();
      if (year >= 1970 && year < 2070) {
        const rfc850 = `${DAYS[d.getUTCDay()]!}, ${pad(d.getUTCDate())}-${month}-${pad(year % 100)} ${time} GMT`;
        assert.equal(parseHttpTime(rfc850), seconds, rfc850);
      }
    }
  });

  test("what nginx refuses", () => {
    for (const value of [
      "",
      "yesterday",
      "Fri, 02 Jan 2026 03:04",
      "Fri, 32 Jan 2026 03:04:05 GMT",
      "Fri, 30 Feb 2024 03:04:05 GMT",
      "Mon, 29 Feb 2100 03:04:05 GMT",
      "Fri, 02 Xyz 2026 03:04:05 GMT",
      "Fri, 02 Jan 2026 24:00:00 GMT",
      "Fri, 02 Jan 2026 03:60:00 GMT",
      "Fri, 2 Jan 2026 03:04:05 GMT",
      "Fri, 02-Jan 2026 03:04:05 GMT",
    ]) {
      assert.equal(parseHttpTime(value), -1, value);
    }
    assert.equal(parseHttpTime("Thu, 29 Feb 2024 00:00:00 GMT"), Date.UTC(2024, 1, 29) / 1000);
    // nginx reads no zone: any trailing text is ignored.
    assert.equal(parseHttpTime("Fri, 02 Jan 2026 03:04:05 PST"), Date.UTC(2026, 0, 2, 3, 4, 5) / 1000);
  });
});

describe("parseRanges", () => {
  const ranges = (text: string, size = 100, max = 0x7fffffff): unknown => {
    const outcome = parseRanges(text, size, max);
    return outcome.kind === "ranges" ? outcome.ranges.map((r) => [r.start, r.end]) : outcome.kind;
  };
  test("the forms of a range set", () => {
    assert.deepEqual(ranges("0-9"), [[0, 10]]);
    assert.deepEqual(ranges("90-"), [[90, 100]]);
    assert.deepEqual(ranges("-10"), [[90, 100]]);
    assert.deepEqual(ranges("-1000"), [[0, 100]]);
    assert.deepEqual(ranges("95-1000"), [[95, 100]]);
    assert.deepEqual(ranges(" 1 - 2 ,3-4"), [
      [1, 3],
      [3, 5],
    ]);
    assert.deepEqual(ranges("0-0,200-300"), [[0, 1]]);
  });
  test("unsatisfiable, ignored", () => {
    assert.equal(ranges("100-"), "unsatisfiable");
    assert.equal(ranges("5-2"), "unsatisfiable");
    assert.equal(ranges("x"), "unsatisfiable");
    assert.equal(ranges("1-2x"), "unsatisfiable");
    assert.equal(ranges("99999999999999999999-"), "unsatisfiable");
    assert.equal(ranges("-0"), "unsatisfiable", "an empty suffix (nginx: 416)");
    assert.equal(ranges("0-60,40-99"), "none", "more bytes than the file");
    assert.equal(ranges("0-1,2-3", 100, 1), "none", "more ranges than max_ranges");
    assert.equal(ranges("0-", 0), "none", "an empty file");
  });
  test("a multipart body's length counts every part", () => {
    const parts = multipart(
      [
        { start: 0, end: 2 },
        { start: 5, end: 7 },
      ],
      20,
      "text/plain",
    );
    const body = parts.heads[0]! + "01" + parts.heads[1]! + "56" + parts.tail;
    assert.equal(parts.length, body.length);
    assert.match(parts.contentType, /^multipart\/byteranges; boundary=\d{20}$/);
  });
});

describe("entity tags and types", () => {
  test("If-Match / If-None-Match lists", () => {
    const etag = '"a-1"';
    assert.equal(etagMatches('"a-1"', etag, false), true);
    assert.equal(etagMatches('"b", "a-1"', etag, false), true);
    assert.equal(etagMatches('"b",\t"a-1" ', etag, false), true);
    assert.equal(etagMatches('W/"a-1"', etag, false), false);
    assert.equal(etagMatches('W/"a-1"', etag, true), true);
    assert.equal(etagMatches('"a-1x"', etag, false), false);
    assert.equal(etagMatches("*", undefined, false), true);
    assert.equal(etagMatches('"a-1"', undefined, true), false);
  });
  test("the extension of a URI", () => {
    assert.equal(uriExtension("/a/b.TXT"), "TXT");
    assert.equal(uriExtension("/.hidden"), "");
    assert.equal(uriExtension("/a.b/c"), "");
    assert.equal(uriExtension("/a/b.tar.gz"), "gz");
    const loc = { types: new Map([["txt", "text/plain"]]), defaultType: "application/octet-stream" };
    assert.equal(contentTypeFor("/x.TxT", loc), "text/plain");
    assert.equal(contentTypeFor("/x", loc), "application/octet-stream");
  });
});
