/**
 * The variable table: indexes taken before definitions, link() and its
 * `unknown "x" variable`, prefix families, the per-request cache, and
 * lookup() (not found) against value() ("").
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { VariableRegistry } from "../../src/vars/registry.js";
import { ConfigError } from "../../src/core/errors.js";
import { fakeSource } from "./fake-source.js";

describe("VariableRegistry", () => {
  test("an index may be taken before the name is defined; link() binds it", () => {
    const vars = new VariableRegistry();
    const index = vars.indexOf("target");
    assert.equal(vars.isDefined("target"), false);
    vars.define("target", () => "value");
    assert.equal(vars.isDefined("TARGET"), true);
    vars.link();
    assert.equal(vars.value(fakeSource(), index), "value");
  });

  test("one name, one index, whatever its case; distinct names, distinct indexes", () => {
    const vars = new VariableRegistry();
    const first = vars.indexOf("Foo");
    assert.equal(vars.indexOf("foo"), first);
    assert.equal(vars.indexOf("FOO"), first);
    assert.notEqual(vars.indexOf("bar"), first);
    assert.deepEqual(vars.usedNames(), ["foo", "bar"]);
  });

  test(`link() fails on the first unknown name with nginx's message, without a place`, () => {
    const vars = new VariableRegistry();
    vars.define("known", () => "k");
    vars.indexOf("known");
    vars.indexOf("Nope", { file: "/etc/wsgate/nginx.conf", line: 3 });
    vars.indexOf("other");
    assert.throws(
      () => vars.link(),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `unknown "nope" variable`);
        assert.equal(err.place, undefined);
        return true;
      },
    );
  });

  test("a prefix family answers any name after the prefix, but not the bare prefix", () => {
    const vars = new VariableRegistry();
    vars.definePrefix("http_", (suffix) => ({ get: () => `header ${suffix}`, cacheable: true }));
    const index = vars.indexOf("http_x_forwarded_for");
    vars.link();
    assert.equal(vars.value(fakeSource(), index), "header x_forwarded_for");
    assert.equal(vars.usesPrefix("http_"), true);
    assert.equal(vars.usesPrefix("sent_http_"), false);

    const bare = new VariableRegistry();
    bare.definePrefix("http_", () => ({ get: () => "x", cacheable: true }));
    bare.indexOf("http_");
    assert.throws(() => bare.link(), { message: `unknown "http_" variable` });
  });

  test("a defined name wins over a prefix family", () => {
    const vars = new VariableRegistry();
    vars.definePrefix("http_", () => ({ get: () => "from prefix", cacheable: true }));
    vars.define("http_host", () => "defined");
    const index = vars.indexOf("http_host");
    vars.link();
    assert.equal(vars.value(fakeSource(), index), "defined");
  });

  test("a cacheable variable is computed once per request, a non-cacheable one at every read", () => {
    const vars = new VariableRegistry();
    let cached = 0;
    let changing = 0;
    vars.define("cached", () => String(++cached));
    vars.define("changing", () => String(++changing), false);
    const a = vars.indexOf("cached");
    const b = vars.indexOf("changing");
    vars.link();
    const r = fakeSource();
    assert.deepEqual([vars.value(r, a), vars.value(r, a), vars.lookup(r, a)], ["1", "1", "1"]);
    assert.deepEqual([vars.value(r, b), vars.value(r, b), vars.lookup(r, b)], ["1", "2", "3"]);
    assert.equal(vars.value(fakeSource(), a), "2", "a new request computes it again");
  });

  test("not found: lookup() says undefined, value() says ''; the answer is cached too", () => {
    const vars = new VariableRegistry();
    let calls = 0;
    vars.define("absent", () => {
      calls++;
      return undefined;
    });
    vars.define("empty", () => "");
    const absent = vars.indexOf("absent");
    const empty = vars.indexOf("empty");
    vars.link();
    const r = fakeSource();
    assert.equal(vars.lookup(r, absent), undefined);
    assert.equal(vars.value(r, absent), "");
    assert.equal(vars.lookup(r, absent), undefined);
    assert.equal(calls, 1, "not found is remembered for the request");
    assert.equal(vars.lookup(r, empty), "", "an empty value is found");
  });
});
