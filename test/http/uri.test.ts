/**
 * The request target to $uri and $args (ngx_http_parse_complex_uri), and
 * nginx's escaping of a changed URI (ngx_escape_uri, NGX_ESCAPE_URI).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { escapeUri, parseTarget } from "../../src/http/uri.js";

function path(target: string, mergeSlashes = true): string | undefined {
  return parseTarget(target, mergeSlashes)?.path;
}

describe("parseTarget", () => {
  test("path and args split at the first '?'; args and the unparsed target stay as sent", () => {
    assert.deepEqual(parseTarget("/a%20b?x=%20&y=?z", true), {
      path: "/a b",
      args: "x=%20&y=?z",
      unparsed: "/a%20b?x=%20&y=?z",
    });
    assert.deepEqual(parseTarget("/plain", true), { path: "/plain", args: "", unparsed: "/plain" });
    assert.deepEqual(parseTarget("/q?", true), { path: "/q", args: "", unparsed: "/q?" });
  });

  test("percent-decoding: either case of hex digits, any byte but NUL", () => {
    assert.equal(path("/%41%62%2d"), "/Ab-");
    assert.equal(path("/caf%e9%C3%A9"), "/caf\xe9\xc3\xa9");
    assert.equal(path("/a%3Fb"), "/a?b", "an encoded '?' is part of the path");
    assert.equal(path("/a%25b"), "/a%b");
  });

  test("a bad or cut-off escape is refused", () => {
    for (const target of ["/a%zz", "/a%4", "/a%", "/%g0", "/a%2"]) {
      assert.equal(parseTarget(target, true), undefined, target);
    }
  });

  test("an encoded NUL is refused", () => {
    assert.equal(parseTarget("/a%00b", true), undefined);
  });

  test("merge_slashes on: runs of '/' become one, encoded ones too", () => {
    assert.equal(path("//a///b//"), "/a/b/");
    assert.equal(path("/a%2F%2Fb"), "/a/b");
    assert.equal(path("/"), "/");
  });

  test("merge_slashes off: slashes are kept", () => {
    assert.equal(path("//a///b//", false), "//a///b//");
  });

  test("'.' and '..' segments are resolved, at the end too", () => {
    assert.equal(path("/a/./b"), "/a/b");
    assert.equal(path("/a/."), "/a/");
    assert.equal(path("/a/b/../c"), "/a/c");
    assert.equal(path("/a/b/.."), "/a/");
    assert.equal(path("/a/.."), "/");
    assert.equal(path("/a/%2e%2E/b"), "/b", "encoded dots count");
  });

  test("names that merely contain dots are not dot segments", () => {
    assert.equal(path("/a..b/.hidden/.../x."), "/a..b/.hidden/.../x.");
  });

  test("climbing above the root is refused", () => {
    for (const target of ["/..", "/../a", "/a/../..", "/a/../../b", "/%2e%2e/etc/passwd", "/a/%2e%2e/%2e%2e"]) {
      assert.equal(parseTarget(target, true), undefined, target);
    }
  });

  test("a fragment is not part of the path", () => {
    assert.equal(path("/a#frag"), "/a");
    assert.equal(path("/a%23b"), "/a#b", "an encoded '#' is");
  });

  test("absolute-form: scheme and host removed, a missing path is '/'", () => {
    assert.deepEqual(parseTarget("http://Host.test:80/p/../q?x=1", true), {
      path: "/q",
      args: "x=1",
      unparsed: "/p/../q?x=1",
    });
    assert.deepEqual(parseTarget("http://host.test", true), { path: "/", args: "", unparsed: "/" });
    assert.deepEqual(parseTarget("HTTPS://host.test?x", true), { path: "/", args: "x", unparsed: "/?x" });
  });
});

describe("escapeUri", () => {
  test("unreserved characters, sub-delimiters, ':', '@', '/', '[', ']' and '\\'' pass unchanged", () => {
    const safe = "/a-b_c.d~e!$&'()*+,;=:@[]/Z09";
    assert.equal(escapeUri(safe), safe);
  });

  test("space, '#', '%' and '?' are escaped, with upper-case hex", () => {
    assert.equal(escapeUri("/a b#c%d?e"), "/a%20b%23c%25d%3Fe");
  });

  test(`nginx 1.21.1+ also escapes " < > \\ ^ \` { | }`, () => {
    assert.equal(escapeUri(`/"<>\\^\`{|}`), "/%22%3C%3E%5C%5E%60%7B%7C%7D");
  });

  test("control characters, DEL and bytes above 0x7f are escaped", () => {
    assert.equal(escapeUri("/\x00\x01\x1f\x7f\x80\xe9\xff"), "/%00%01%1F%7F%80%E9%FF");
  });
});
