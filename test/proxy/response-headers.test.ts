/**
 * The response head the client gets for an upstream's response, in nginx's
 * header-filter order (expected heads as nginx 1.22 sent them, with
 * wsgate's token).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { proxiedHead } from "../../src/proxy/response-headers.js";
import type { HttpRequest } from "../../src/http/request.js";
import { parseResponseHead, type ResponseHead } from "../../src/proxy/response-head.js";
import type { LocConf } from "../../src/config/model.js";
import { SERVER_TOKEN } from "../../src/version.js";

function loc(overrides: Partial<LocConf> = {}): LocConf {
  return { serverTokens: "on", proxyHideHeaders: [], proxyPassHeaders: [], ...overrides } as LocConf;
}

function upstream(text: string): ResponseHead {
  const parsed = parseResponseHead(Buffer.from(text, "latin1"), 65536);
  assert.equal(parsed.kind, "head");
  return (parsed as { head: ResponseHead }).head;
}

/** What the relay tells the head: re-chunked or not, the request's keep-alive, a 101, the Keep-Alive header's seconds. */
interface Framing {
  readonly chunked: boolean;
  readonly keepAlive: boolean;
  readonly upgrade: boolean;
  readonly keepAliveSeconds?: number;
}

const KEEP: Framing = { chunked: false, keepAlive: true, upgrade: false };

/** The relay's head (proxiedHead) for a request that keeps alive or not, with `framing`. */
function relayHead(up: ResponseHead, conf: LocConf, framing: Framing): { head: string; headers: string[][] } {
  const level = { ...conf, keepaliveHeaderSeconds: framing.keepAliveSeconds };
  const r = { facts: { keepAlive: framing.keepAlive }, keepAliveLost: false, loc: level } as unknown as HttpRequest;
  return proxiedHead(r, up, level, { chunked: framing.chunked, end: framing.upgrade ? "upgrade" : "framed" });
}

/** The client head with the Date value replaced by DATE. */
function clientHead(text: string, framing: Framing = KEEP, conf: LocConf = loc()): string {
  const { head } = relayHead(upstream(text), conf, framing);
  return head.replace(
    /\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/,
    "\r\nDate: DATE\r\n",
  );
}

const BACKEND_200 =
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nX-Backend: yes\r\n" +
  "Date: Thu, 01 Jan 2015 00:00:00 GMT\r\nServer: backend/1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n";

describe("the relay's head (proxiedHead)", () => {
  test("Server and Date first, then Content-Type, Content-Length, Connection, then the rest in order", () => {
    assert.equal(
      clientHead(BACKEND_200),
      `HTTP/1.1 200 OK\r\nServer: ${SERVER_TOKEN}\r\nDate: DATE\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n` +
        "Connection: keep-alive\r\nX-Backend: yes\r\n\r\n",
    );
  });

  test("the returned list is what the head says", () => {
    const { head, headers } = relayHead(upstream(BACKEND_200), loc(), KEEP);
    const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join("");
    assert.equal(head, `HTTP/1.1 200 OK\r\n${lines}\r\n`);
  });

  test("to a client that is not kept: Connection: close; with keepalive_timeout's header: Keep-Alive", () => {
    assert.ok(clientHead(BACKEND_200, { ...KEEP, keepAlive: false }).includes("\r\nConnection: close\r\nX-Backend"));
    const head = clientHead(BACKEND_200, { ...KEEP, keepAliveSeconds: 5 });
    assert.ok(head.includes("\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Backend: yes\r\n"), head);
  });

  test("re-chunked: the upstream's framing is dropped, Transfer-Encoding: chunked before Connection", () => {
    const text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n";
    assert.equal(
      clientHead(text, { ...KEEP, chunked: true }),
      `HTTP/1.1 200 OK\r\nServer: ${SERVER_TOKEN}\r\nDate: DATE\r\nContent-Type: text/plain\r\n` +
        "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\n",
    );
  });

  test("101: Connection: upgrade, then the upstream's Upgrade and the rest in order", () => {
    const text =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Extra: 1\r\n\r\n";
    assert.equal(
      clientHead(text, { chunked: false, keepAlive: true, upgrade: true, keepAliveSeconds: 5 }),
      `HTTP/1.1 101 Switching Protocols\r\nServer: ${SERVER_TOKEN}\r\nDate: DATE\r\nConnection: upgrade\r\n` +
        "Upgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Extra: 1\r\n\r\n",
    );
  });

  test("a 426 keeps the upstream's Upgrade header and the connection", () => {
    const text =
      "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 5\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert.equal(
      clientHead(text),
      `HTTP/1.1 426 Upgrade Required\r\nServer: ${SERVER_TOKEN}\r\nDate: DATE\r\nContent-Length: 5\r\n` +
        "Connection: keep-alive\r\nUpgrade: websocket\r\n\r\n",
    );
  });

  test("hop-by-hop headers and nginx's hidden ones are not passed", () => {
    const text =
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nKeep-Alive: timeout=5\r\nProxy-Connection: close\r\nX-Pad: avoid\r\n" +
      "X-Accel-Redirect: /internal\r\nX-Accel-Buffering: no\r\nX-Accel-Expires: 5\r\nX-Accel-Limit-Rate: 1\r\n" +
      "X-Accel-Charset: utf-8\r\nX-Kept: k\r\n\r\n";
    assert.ok(clientHead(text).endsWith("\r\nConnection: keep-alive\r\nX-Kept: k\r\n\r\n"), clientHead(text));
  });

  test("proxy_hide_header hides; proxy_pass_header lets a hidden-by-default header through", () => {
    const text = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Secret: s\r\nX-Accel-Buffering: no\r\nX-Kept: k\r\n\r\n";
    const head = clientHead(
      text,
      KEEP,
      loc({ proxyHideHeaders: ["x-secret"], proxyPassHeaders: ["x-accel-buffering"] }),
    );
    assert.ok(head.endsWith("\r\nConnection: keep-alive\r\nX-Accel-Buffering: no\r\nX-Kept: k\r\n\r\n"), head);
  });

  test("proxy_pass_header Server, Date: the upstream's, in its order, in place of wsgate's own", () => {
    const text =
      "HTTP/1.1 200 OK\r\nX-First: 1\r\nServer: backend/1\r\nDate: Thu, 01 Jan 2015 00:00:00 GMT\r\n" +
      "Content-Length: 3\r\nContent-Type: text/plain\r\n\r\n";
    const conf = loc({ proxyPassHeaders: ["server", "date"] });
    assert.equal(
      relayHead(upstream(text), conf, KEEP).head,
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\nX-First: 1\r\n" +
        "Server: backend/1\r\nDate: Thu, 01 Jan 2015 00:00:00 GMT\r\n\r\n",
    );
  });

  test("Last-Modified and Location stay in the upstream's order", () => {
    const text =
      "HTTP/1.1 302 Found\r\nX-First: 1\r\nLast-Modified: Thu, 01 Jan 2015 00:00:00 GMT\r\nLocation: /rel\r\n" +
      "Content-Length: 3\r\nContent-Type: text/plain\r\n\r\n";
    assert.equal(
      clientHead(text),
      `HTTP/1.1 302 Found\r\nServer: ${SERVER_TOKEN}\r\nDate: DATE\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n` +
        "Connection: keep-alive\r\nX-First: 1\r\nLast-Modified: Thu, 01 Jan 2015 00:00:00 GMT\r\nLocation: /rel\r\n\r\n",
    );
  });

  test("the status line: always HTTP/1.1, the upstream's reason kept; server_tokens off", () => {
    const head = clientHead("HTTP/1.0 299\r\nContent-Length: 0\r\n\r\n", KEEP, loc({ serverTokens: "off" }));
    assert.ok(head.startsWith("HTTP/1.1 299\r\nServer: wsgate\r\nDate: DATE\r\n"), head);
  });
});
