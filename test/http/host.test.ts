/**
 * ngx_http_validate_host() and the absolute-form authority of
 * ngx_http_parse_request_line(), byte by byte (the differential test compares
 * the same cases with nginx itself).
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseAuthority, validateHost } from "../../src/http/host.js";

test("validateHost: what nginx keeps of a host, and what it refuses", () => {
  const kept: ReadonlyArray<readonly [string, string]> = [
    ["Example.COM", "example.com"],
    ["a.b.", "a.b"],
    ["a.:80", "a"],
    ["a:b:c", "a"],
    ["[::1]:80", "[::1]"],
    ["[::1", "[::1"],
    [".a", ".a"],
    ["u@evil", "u@evil"],
    ["a\\b", "a\\b"],
    ["\xc9.A", "\xc9.a"],
  ];
  for (const [raw, host] of kept) assert.equal(validateHost(raw), host, JSON.stringify(raw));
  for (const raw of ["a b", "a\tb", "a\x00b", "a\x7fb", "a/b", "a..b", "a:8..0", "", ":80", ".", "[]x"]) {
    assert.equal(validateHost(raw), raw === "[]x" ? "[]" : undefined, JSON.stringify(raw));
  }
});

test("parseAuthority: the host as sent and where the path starts; undefined for what nginx's parser refuses", () => {
  assert.deepEqual(parseAuthority("http://a.b:80/x?y"), { host: "a.b:80", pathStart: 13 });
  assert.deepEqual(parseAuthority("HTTP://a"), { host: "a", pathStart: 8 });
  assert.deepEqual(parseAuthority("http://a?q"), { host: "a", pathStart: 8 });
  assert.deepEqual(parseAuthority("ftp://[::1]/"), { host: "[::1]", pathStart: 11 });
  assert.deepEqual(parseAuthority("h+t.t-p://a:/x"), { host: "a:", pathStart: 12 });
  assert.deepEqual(parseAuthority("http:///x"), { host: "", pathStart: 7 });
  for (const target of [
    "http://u@evil/x",
    "http://a:b/x",
    "http://a,b/x",
    "http://a#b/x",
    "http://a_b/x",
    "http://a%41/x",
    "http://a:80:90/x",
    "http://[::1/x",
    "http://[::1]x/",
    "http://[a@b]/x",
    "http:/a/x",
    "1http://a/x",
    "ht~tp://a/x",
  ]) {
    assert.equal(parseAuthority(target), undefined, target);
  }
});
