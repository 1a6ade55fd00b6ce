/**
 * The relay's head through the response writer: the keep-alive decision is
 * the request's (keep-alive.ts), the body's end decides for a response ended
 * by the close, and a 101 says upgrade.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { LocConf } from "../../src/config/model.js";
import type { HttpRequest } from "../../src/http/request.js";
import { parseResponseHead, type ResponseHead } from "../../src/proxy/response-head.js";
import { proxiedHead, relayBodyEnd } from "../../src/proxy/response-headers.js";

function loc(overrides: Partial<LocConf> = {}): LocConf {
  return {
    serverTokens: "on",
    proxyHideHeaders: [],
    proxyPassHeaders: [],
    keepaliveTimeoutMs: 75_000,
    keepaliveRequests: 1000,
    keepaliveHeaderSeconds: undefined,
    ...overrides,
  } as LocConf;
}

function request(keepAlive: boolean, conf: LocConf, lost = false): HttpRequest {
  return { facts: { keepAlive }, keepAliveLost: lost, loc: conf } as unknown as HttpRequest;
}

function upstream(text: string): ResponseHead {
  const parsed = parseResponseHead(Buffer.from(text, "latin1"), 65536);
  assert.equal(parsed.kind, "head");
  return (parsed as { head: ResponseHead }).head;
}

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n";

const connectionOf = (head: string): string[] =>
  head.split("\r\n").filter((line) => /^(connection|keep-alive|transfer-encoding):/i.test(line));

describe("proxiedHead", () => {
  test("kept: Connection: keep-alive, with Keep-Alive: timeout=N from keepalive_timeout's second value", () => {
    const conf = loc({ keepaliveHeaderSeconds: 9 });
    const out = proxiedHead(request(true, conf), upstream(OK), conf, { chunked: false, end: "framed" });
    assert.equal(out.keepAlive, true);
    assert.deepEqual(connectionOf(out.head), ["Connection: keep-alive", "Keep-Alive: timeout=9"]);
  });

  test("a request that lost keep-alive (keepalive_timeout 0 on its way, a closing error) says close", () => {
    const conf = loc();
    const out = proxiedHead(request(true, conf, true), upstream(OK), conf, { chunked: false, end: "framed" });
    assert.equal(out.keepAlive, false);
    assert.deepEqual(connectionOf(out.head), ["Connection: close"]);
  });

  test("a body ended by the close closes, and chunks say so", () => {
    const conf = loc();
    const closing = proxiedHead(request(true, conf), upstream(OK), conf, { chunked: false, end: "close" });
    assert.equal(closing.keepAlive, false);
    const chunked = proxiedHead(request(true, conf), upstream(OK), conf, { chunked: true, end: "framed" });
    assert.deepEqual(connectionOf(chunked.head), ["Transfer-Encoding: chunked", "Connection: keep-alive"]);
  });

  test("a 101 says upgrade", () => {
    const conf = loc();
    const head = upstream("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    const out = proxiedHead(request(true, conf), head, conf, { chunked: false, end: "upgrade" });
    assert.deepEqual(connectionOf(out.head), ["Connection: upgrade"]);
    assert.equal(out.keepAlive, false);
  });
});

describe("relayBodyEnd", () => {
  test("framed by a length, no body, chunks, or an interim status; a 101 upgrades; else the close", () => {
    assert.equal(relayBodyEnd(200, "length", false), "framed");
    assert.equal(relayBodyEnd(204, "none", false), "framed");
    assert.equal(relayBodyEnd(200, "close", true), "framed");
    assert.equal(relayBodyEnd(100, "close", false), "framed");
    assert.equal(relayBodyEnd(101, "close", false), "upgrade");
    assert.equal(relayBodyEnd(200, "close", false), "close");
    assert.equal(relayBodyEnd(200, "chunked", false), "close");
  });
});
