/**
 * The content-handler table: the first handler that claims a scope serves
 * it, found once per location; the fallback serves the rest; try_files runs
 * first where it is set. And the http folder does not load the handlers above
 * it (proxy, static) at run time.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  ContentHandlers,
  type ContentFlow,
  type ContentHandler,
  type ContentScope,
} from "../../src/http/content-handler.js";
import type { HttpRequest } from "../../src/http/request.js";

function handler(name: string, claims: (scope: ContentScope) => boolean, served: string[]): ContentHandler {
  return { name, claims, handle: () => void served.push(name) };
}

const flow = {} as ContentFlow;
const server = { stubStatus: false } as unknown as ContentScope["server"];
const scope = (location: object | undefined): HttpRequest => ({ location, server }) as unknown as HttpRequest;

describe("ContentHandlers", () => {
  test("the first claiming handler serves; the fallback serves what none claims", () => {
    const served: string[] = [];
    const proxy = { proxyPass: {} };
    const table = new ContentHandlers(
      [handler("proxy_pass", ({ location }) => location === proxy, served), handler("everything", () => true, served)],
      handler("static", () => true, served),
    );
    table.run(scope(proxy), flow);
    table.run(scope({}), flow);
    assert.deepEqual(served, ["proxy_pass", "everything"]);
    const fallbackOnly = new ContentHandlers(
      [],
      handler("static", () => false, served),
    );
    fallbackOnly.run(scope(undefined), flow);
    assert.deepEqual(served.at(-1), "static");
  });

  test("a location's handler is chosen once", () => {
    let asked = 0;
    const table = new ContentHandlers(
      [
        handler(
          "counted",
          () => {
            asked++;
            return true;
          },
          [],
        ),
      ],
      handler("static", () => true, []),
    );
    const location = {};
    for (let i = 0; i < 3; i++) table.run(scope(location), flow);
    assert.equal(asked, 1);
    assert.equal(table.get("counted")?.name, "counted");
  });

  test("try_files runs first and decides when the content phase runs", () => {
    const served: string[] = [];
    let next: (() => void) | undefined;
    const table = new ContentHandlers(
      [],
      handler("static", () => true, served),
      (_r, _flow, then) => {
        next = then;
        return true;
      },
    );
    table.run(scope({}), flow);
    assert.deepEqual(served, []);
    next!();
    assert.deepEqual(served, ["static"]);
  });

  test("a name registered twice is refused", () => {
    assert.throws(
      () =>
        new ContentHandlers(
          [handler("a", () => true, []), handler("a", () => true, [])],
          handler("s", () => true, []),
        ),
      /registered twice/,
    );
  });
});

describe("layers", () => {
  test("src/http loads no content handler (src/proxy, src/static) at run time", () => {
    const dir = fileURLToPath(new URL("../../../src/http/", import.meta.url));
    const offenders: string[] = [];
    for (const file of readdirSync(dir).filter((name) => name.endsWith(".ts"))) {
      const text = readFileSync(dir + file, "utf8");
      for (const match of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"(\.\.\/(?:proxy|static)\/[^"]+)"/gms)) {
        if (match[1] === undefined) offenders.push(`${file}: ${match[2]}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
