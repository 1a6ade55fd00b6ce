/**
 * The gzip filter's pure parts against nginx's functions: the Accept-Encoding
 * reading of ngx_http_gzip_accept_encoding() and ngx_http_gzip_quantity(),
 * the type test of ngx_http_test_content_type() (a charset parameter cut
 * off, other parameters kept), ngx_http_weak_etag(), the header changes of a
 * compressed response, and $gzip_ratio's rounding.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { LocConf } from "../../src/config/model.js";
import { acceptsGzip, gzipHeaders, typeMatches, weakEtag } from "../../src/http/gzip-filter.js";
import { gzipRatio } from "../../src/vars/gzip-ratio.js";

describe("Accept-Encoding", () => {
  test("gzip as a coding of its own, with a q above 0 or none", () => {
    for (const value of [
      "gzip",
      "deflate, gzip",
      "br,gzip",
      "GZIP",
      "gzip;q=0.5",
      "gzip; q=1",
      "gzip;q=1.000",
      "gzip ;q=0.001",
      "x, gzip ,y",
    ])
      assert.equal(acceptsGzip(value), true, value);
  });

  test("refused: q of 0, a malformed q, gzip inside another word", () => {
    for (const value of [
      "gzip;q=0",
      "gzip;q=0.000",
      "gzip;q=2",
      "gzip;q=1.5",
      "gzip;q=0.0001",
      "gzip;q=x",
      "xgzip",
      "gzipx",
      "deflate",
      "gzip;p=1",
      "gzip;q",
    ])
      assert.equal(acceptsGzip(value), false, value);
  });
});

describe("gzip_types", () => {
  const loc = (types: LocConf["gzipTypes"]): LocConf => ({ gzipTypes: types }) as LocConf;
  const html = loc(new Set(["text/html", "application/json"]));

  test("the type up to a charset parameter, without regard to case", () => {
    assert.equal(typeMatches(html, "text/html"), true);
    assert.equal(typeMatches(html, "Text/HTML; charset=utf-8"), true);
    assert.equal(typeMatches(html, "application/json;  charset=utf-8"), true);
  });

  test("another parameter is part of the type; no type is no match unless `*`", () => {
    assert.equal(typeMatches(html, "text/html; level=1"), false);
    assert.equal(typeMatches(html, "text/css"), false);
    assert.equal(typeMatches(html, undefined), false);
    assert.equal(typeMatches(loc("any"), undefined), true);
  });
});

describe("a compressed response's head", () => {
  test("ngx_http_weak_etag(): W/ kept, a quoted tag made weak, anything else dropped", () => {
    assert.equal(weakEtag('"abc"'), 'W/"abc"');
    assert.equal(weakEtag('W/"abc"'), 'W/"abc"');
    assert.equal(weakEtag("abc"), undefined);
  });

  test("Content-Length and the first Accept-Ranges go; the first ETag turns weak", () => {
    assert.deepEqual(
      gzipHeaders([
        ["Content-Length", "5"],
        ["ETag", '"a"'],
        ["Accept-Ranges", "bytes"],
        ["X-Other", "1"],
        ["ETag", '"b"'],
      ]),
      [
        ["ETag", 'W/"a"'],
        ["X-Other", "1"],
        ["ETag", '"b"'],
      ],
    );
  });
});

describe("$gzip_ratio", () => {
  test("two decimals, rounded on the third as nginx rounds", () => {
    assert.equal(gzipRatio({ zin: 2125, zout: 1000 }), "2.13");
    assert.equal(gzipRatio({ zin: 2124, zout: 1000 }), "2.12");
    assert.equal(gzipRatio({ zin: 1999, zout: 1000 }), "2.00");
    assert.equal(gzipRatio({ zin: 31, zout: 33 }), "0.94");
    assert.equal(gzipRatio({ zin: 0, zout: 20 }), "0.00");
  });

  test("not found without a compressed body", () => {
    assert.equal(gzipRatio(undefined), undefined);
    assert.equal(gzipRatio({ zin: 0, zout: 0 }), undefined);
  });
});
