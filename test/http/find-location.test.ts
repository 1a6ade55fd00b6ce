/**
 * Location choice as ngx_http_core_find_location(): `=` ends the search, the
 * longest prefix is remembered, `^~` skips the regexes, regexes are tried in
 * the order written (first match wins), nested locations are searched the
 * same way, and a regex match brings its captures.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { findLocation } from "../../src/http/find-location.js";
import type { LocConf, LocationConf, LocationModifier } from "../../src/config/model.js";

function location(modifier: LocationModifier, path: string, nested: LocationConf[] = []): LocationConf {
  const regex =
    modifier === "~" ? new RegExp(path) : modifier === "~*" ? new RegExp(path, "i") : (undefined as RegExp | undefined);
  return {
    modifier,
    path,
    regex,
    loc: {} as LocConf,
    locations: nested,
    proxyPass: undefined,
    place: { file: "test.conf", line: 1 },
  };
}

/** The chosen location as "modifier path" (or undefined), and its captures. */
function find(locations: readonly LocationConf[], uri: string): { name: string | undefined; captures?: string[] } {
  const match = findLocation(locations, uri);
  if (!match) return { name: undefined };
  const name = `${match.location.modifier}${match.location.modifier ? " " : ""}${match.location.path}`;
  return match.match === undefined ? { name } : { name, captures: Array.from(match.match, (group) => group ?? "") };
}

const nameOf = (locations: readonly LocationConf[], uri: string) => find(locations, uri).name;

describe("findLocation", () => {
  test("exact `=` wins over any prefix and regex; it matches the whole URI only", () => {
    const locations = [location("", "/"), location("~", "^/exact"), location("=", "/exact"), location("", "/exact")];
    assert.equal(nameOf(locations, "/exact"), "= /exact");
    assert.equal(nameOf(locations, "/exact/more"), "~ ^/exact", "a longer URI goes on to the regexes");
  });

  test("the longest prefix wins, whatever the order written", () => {
    const locations = [location("", "/"), location("", "/a/b/c"), location("", "/a"), location("", "/a/b")];
    assert.equal(nameOf(locations, "/a/b/x"), "/a/b");
    assert.equal(nameOf(locations, "/a/b/c/d"), "/a/b/c");
    assert.equal(nameOf(locations, "/ab"), "/a", "a prefix is a string prefix, not a path segment");
    assert.equal(nameOf(locations, "/z"), "/");
  });

  test("no match at all is undefined", () => {
    assert.equal(nameOf([location("", "/api"), location("=", "/x")], "/other"), undefined);
    assert.equal(nameOf([], "/"), undefined);
  });

  test("prefixes are case-sensitive", () => {
    assert.equal(nameOf([location("", "/"), location("", "/Admin")], "/admin"), "/");
  });

  test("a regex match beats the longest prefix", () => {
    const locations = [location("", "/static/"), location("~", "\\.php$")];
    assert.equal(nameOf(locations, "/static/x.php"), "~ \\.php$");
    assert.equal(nameOf(locations, "/static/x.css"), "/static/");
  });

  test("^~ on the longest prefix stops the regexes; on a shorter one it does not", () => {
    const locations = [location("^~", "/static/"), location("", "/static/img/"), location("~", "\\.png$")];
    assert.equal(nameOf(locations, "/static/a.png"), "^~ /static/");
    assert.equal(nameOf(locations, "/static/img/a.png"), "~ \\.png$", "the longest prefix /static/img/ has no ^~");
  });

  test("regexes are tried in the order written; ~* ignores case", () => {
    const locations = [location("~*", "\\.JPG$"), location("~", "\\.jpg$"), location("~", "^/x")];
    assert.equal(nameOf(locations, "/x/a.jpg"), "~* \\.JPG$");
    assert.equal(nameOf(locations, "/x/a.gif"), "~ ^/x");
  });

  test("a regex location's captures come with the match; prefix matches have none", () => {
    const locations = [location("", "/"), location("~", "^/user/(\\d+)/(?<tab>\\w+)?")];
    assert.deepEqual(find(locations, "/user/42/posts"), {
      name: "~ ^/user/(\\d+)/(?<tab>\\w+)?",
      captures: ["/user/42/posts", "42", "posts"],
    });
    assert.deepEqual(find(locations, "/user/7/"), {
      name: "~ ^/user/(\\d+)/(?<tab>\\w+)?",
      captures: ["/user/7/", "7", ""],
    });
    assert.deepEqual(find(locations, "/other"), { name: "/" });
  });

  test("nested prefix and exact locations refine the outer prefix", () => {
    const locations = [
      location("", "/"),
      location("", "/api/", [location("", "/api/v2/"), location("=", "/api/health")]),
    ];
    assert.equal(nameOf(locations, "/api/x"), "/api/");
    assert.equal(nameOf(locations, "/api/v2/x"), "/api/v2/");
    assert.equal(nameOf(locations, "/api/health"), "= /api/health");
  });

  test("nested regexes are tried before the outer level's regexes", () => {
    const locations = [location("", "/api/", [location("~", "\\.json$")]), location("~", "\\.(json|xml)$")];
    assert.equal(nameOf(locations, "/api/a.json"), "~ \\.json$");
    assert.equal(nameOf(locations, "/api/a.xml"), "~ \\.(json|xml)$");
    assert.equal(nameOf(locations, "/api/a.txt"), "/api/");
  });

  test("^~ stops the outer regexes, not the nested ones", () => {
    const locations = [location("^~", "/files/", [location("~", "\\.txt$")]), location("~", "\\.(txt|bin)$")];
    assert.equal(nameOf(locations, "/files/a.txt"), "~ \\.txt$");
    assert.equal(nameOf(locations, "/files/a.bin"), "^~ /files/");
  });

  test("a nested prefix without ^~ does not stop the outer regexes", () => {
    const locations = [location("", "/a/", [location("", "/a/b/")]), location("~", "^/a/b/c")];
    assert.equal(nameOf(locations, "/a/b/c"), "~ ^/a/b/c");
    assert.equal(nameOf(locations, "/a/b/d"), "/a/b/");
  });

  test("locations nested in a matching regex location are searched", () => {
    const locations = [location("~", "^/img/", [location("~", "\\.webp$")])];
    assert.deepEqual(find(locations, "/img/a.webp"), { name: "~ \\.webp$", captures: [".webp"] });
    assert.deepEqual(find(locations, "/img/a.png"), { name: "~ ^/img/", captures: ["/img/"] });
  });
});
