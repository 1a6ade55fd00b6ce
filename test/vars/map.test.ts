/**
 * `map` lookups through a registry, as ngx_http_map_find(): exact keys
 * (case-insensitive), the '' key, default, regexes in order with captures,
 * and with `hostnames` the wildcard keys.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ComplexValue } from "../../src/vars/complex-value.js";
import { VariableRegistry } from "../../src/vars/registry.js";
import { lookupMap, type MapTable } from "../../src/vars/map.js";
import { registerHttpVariables } from "../../src/vars/http-variables.js";
import { fakeSource } from "./fake-source.js";

interface MapSpec {
  readonly source: string;
  readonly hostnames?: boolean;
  readonly defaultValue?: string;
  /** Keys as written in the block: "~re", "~*re", "*.x", ".x", "x.*", or an exact key. */
  readonly entries: ReadonlyArray<readonly [key: string, value: string]>;
}

/** Build the map as the configuration would (keys lower-cased, wildcards split out) and define $result. */
function mapVariable(spec: MapSpec): (headers: ReadonlyArray<readonly [string, string]>) => {
  value: string;
  captures: readonly string[] | undefined;
} {
  const vars = new VariableRegistry();
  registerHttpVariables(vars);
  const compile = (text: string) => ComplexValue.compile(text, vars);
  const exact = new Map<string, ComplexValue>();
  const leadingWildcards: Array<[string, ComplexValue, boolean]> = [];
  const trailingWildcards: Array<[string, ComplexValue]> = [];
  const regexes: Array<{ regex: RegExp; value: ComplexValue }> = [];
  for (const [key, text] of spec.entries) {
    const value = compile(text);
    if (key.startsWith("~*")) regexes.push({ regex: new RegExp(key.slice(2), "i"), value });
    else if (key.startsWith("~")) regexes.push({ regex: new RegExp(key.slice(1)), value });
    else if (spec.hostnames && key.startsWith("*.")) leadingWildcards.push([key.slice(1).toLowerCase(), value, false]);
    else if (spec.hostnames && key.startsWith(".")) leadingWildcards.push([key.toLowerCase(), value, true]);
    else if (spec.hostnames && key.endsWith(".*")) trailingWildcards.push([key.slice(0, -1).toLowerCase(), value]);
    else exact.set(key.toLowerCase(), value);
  }
  const table: MapTable = {
    source: compile(spec.source),
    exact,
    leadingWildcards,
    trailingWildcards,
    regexes,
    defaultValue: spec.defaultValue === undefined ? undefined : compile(spec.defaultValue),
    hostnames: spec.hostnames ?? false,
  };
  vars.define("result", (r) => lookupMap(table, r));
  const index = vars.indexOf("result");
  vars.link();
  return (headers) => {
    const r = fakeSource({ headers });
    const value = vars.value(r, index);
    return { value, captures: r.captures };
  };
}

describe("map", () => {
  test("exact keys match case-insensitively; no match and no default gives ''", () => {
    const lookup = mapVariable({
      source: "$http_x_k",
      entries: [
        ["foo", "FOO"],
        ["Bar", "BAR"],
      ],
    });
    assert.equal(lookup([["X-K", "foo"]]).value, "FOO");
    assert.equal(lookup([["X-K", "FOO"]]).value, "FOO");
    assert.equal(lookup([["X-K", "bar"]]).value, "BAR");
    assert.equal(lookup([["X-K", "baz"]]).value, "");
    assert.equal(lookup([]).value, "");
  });

  test("the seed's map: a missing header matches the '' key, anything else the default", () => {
    const lookup = mapVariable({ source: "$http_upgrade", defaultValue: "upgrade", entries: [["", "close"]] });
    assert.equal(lookup([]).value, "close");
    assert.equal(lookup([["Upgrade", ""]]).value, "close");
    assert.equal(lookup([["Upgrade", "websocket"]]).value, "upgrade");
    assert.equal(lookup([["Upgrade", "h2c"]]).value, "upgrade");
  });

  test("regexes are tried in the order written, after exact keys; ~ is case-sensitive, ~* not", () => {
    const lookup = mapVariable({
      source: "$http_x_k",
      defaultValue: "dflt",
      entries: [
        ["~^a(\\d+)$", "rx:$1"],
        ["~*^B(\\d+)", "rxi:$1"],
        ["foo", "exact-beats-regex"],
        ["~^f", "rx-f"],
        ["~b", "first"],
        ["~ab", "second"],
      ],
    });
    assert.equal(lookup([["X-K", "a12"]]).value, "rx:12");
    assert.equal(lookup([["X-K", "A12"]]).value, "dflt");
    assert.equal(lookup([["X-K", "b7"]]).value, "rxi:7");
    assert.equal(lookup([["X-K", "foo"]]).value, "exact-beats-regex");
    assert.equal(lookup([["X-K", "fo"]]).value, "rx-f");
    assert.equal(lookup([["X-K", "ab"]]).value, "first");
  });

  test("a matching regex sets the request's captures; an exact match leaves them alone", () => {
    const lookup = mapVariable({
      source: "$http_x_k",
      entries: [
        ["~^(\\w+)-(\\w+)?$", "$2/$1"],
        ["plain", "p"],
      ],
    });
    assert.deepEqual(lookup([["X-K", "left-right"]]), {
      value: "right/left",
      captures: ["left-right", "left", "right"],
    });
    assert.deepEqual(lookup([["X-K", "left-"]]), { value: "/left", captures: ["left-", "left", ""] });
    assert.deepEqual(lookup([["X-K", "plain"]]), { value: "p", captures: undefined });
  });

  test("the value may hold variables; the default too", () => {
    const lookup = mapVariable({
      source: "$http_x_k",
      defaultValue: "d:$http_x_k",
      entries: [["zz", "$http_x_other"]],
    });
    assert.equal(
      lookup([
        ["X-K", "zz"],
        ["X-Other", "oth"],
      ]).value,
      "oth",
    );
    assert.equal(lookup([["X-K", "zz"]]).value, "");
    assert.equal(lookup([["X-K", "q"]]).value, "d:q");
  });

  test("hostnames: *.example.com matches any depth but not the bare name; .dot.test matches both", () => {
    const lookup = mapVariable({
      source: "$http_host",
      hostnames: true,
      defaultValue: "dflt",
      entries: [
        ["example.com", "EX"],
        ["*.example.com", "WILD"],
        [".dot.test", "DOT"],
        ["www.pre.*", "PRE"],
      ],
    });
    const host = (value: string) => lookup([["Host", value]]).value;
    assert.equal(host("example.com"), "EX");
    assert.equal(host("EXAMPLE.COM"), "EX");
    assert.equal(host("a.example.com"), "WILD");
    assert.equal(host("a.b.example.com"), "WILD");
    assert.equal(host("badexample.com"), "dflt", "a wildcard matches whole labels only");
    assert.equal(host("dot.test"), "DOT");
    assert.equal(host("x.dot.test"), "DOT");
    assert.equal(host("www.pre.org"), "PRE");
    assert.equal(host("www.pre.co.uk"), "PRE");
    assert.equal(host("example.com."), "EX", "a trailing dot is ignored");
    assert.equal(host("example.com:8080"), "dflt", "$http_host keeps the port");
  });

  test("hostnames: the longest leading wildcard wins, whatever the order written", () => {
    const lookup = mapVariable({
      source: "$http_host",
      hostnames: true,
      entries: [
        ["*.com", "COM"],
        ["*.a.example.com", "DEEP"],
        ["*.example.com", "MID"],
        ["www.*", "WWW"],
      ],
    });
    const host = (value: string) => lookup([["Host", value]]).value;
    assert.equal(host("x.a.example.com"), "DEEP");
    assert.equal(host("x.b.example.com"), "MID");
    assert.equal(host("other.com"), "COM");
    assert.equal(host("www.example.com"), "MID", "a leading wildcard beats a trailing one");
    assert.equal(host("www.example.org"), "WWW");
  });

  test("without hostnames, wildcard-looking keys are plain exact keys", () => {
    const lookup = mapVariable({ source: "$http_host", entries: [["*.example.com", "STAR"]] });
    assert.equal(lookup([["Host", "a.example.com"]]).value, "");
    assert.equal(lookup([["Host", "*.example.com"]]).value, "STAR");
  });
});
