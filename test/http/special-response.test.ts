/**
 * nginx's error pages byte for byte (with wsgate's token where nginx puts
 * its own), the head that carries them, and which errors end the connection.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { errorClosesConnection, errorPageBody, errorResponse, wireStatus } from "../../src/http/special-response.js";
import { STATUS_HEADER_TOO_LARGE } from "../../src/http/request-head.js";
import { SERVER_TOKEN } from "../../src/version.js";

const PAGE_502 =
  "<html>\r\n" +
  "<head><title>502 Bad Gateway</title></head>\r\n" +
  "<body>\r\n" +
  "<center><h1>502 Bad Gateway</h1></center>\r\n" +
  `<hr><center>${SERVER_TOKEN}</center>\r\n` +
  "</body>\r\n" +
  "</html>\r\n";

const PAGE_494 =
  "<html>\r\n" +
  "<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n" +
  "<body>\r\n" +
  "<center><h1>400 Bad Request</h1></center>\r\n" +
  "<center>Request Header Or Cookie Too Large</center>\r\n" +
  `<hr><center>${SERVER_TOKEN}</center>\r\n` +
  "</body>\r\n" +
  "</html>\r\n";

describe("error pages", () => {
  test("502: nginx's page, 157 bytes with a 12-character token as nginx/1.22.1's", () => {
    assert.equal(errorPageBody(502, "on"), PAGE_502);
    assert.equal(SERVER_TOKEN.length, "nginx/1.22.1".length);
    assert.equal(Buffer.byteLength(errorPageBody(502, "on")), 157);
  });

  test("494: titled 400 Request Header Or Cookie Too Large, with its own line", () => {
    assert.equal(errorPageBody(STATUS_HEADER_TOO_LARGE, "on"), PAGE_494);
  });

  test("server_tokens off: the bare product name in the footer", () => {
    assert.equal(errorPageBody(502, "off"), PAGE_502.replace(SERVER_TOKEN, "wsgate"));
    assert.equal(errorPageBody(STATUS_HEADER_TOO_LARGE, "off"), PAGE_494.replace(SERVER_TOKEN, "wsgate"));
  });

  test("every page has the same frame around the status line", () => {
    assert.equal(errorPageBody(404, "on"), PAGE_502.replaceAll("502 Bad Gateway", "404 Not Found"));
    assert.equal(errorPageBody(504, "on"), PAGE_502.replaceAll("502 Bad Gateway", "504 Gateway Time-out"));
  });
});

describe("errorResponse", () => {
  const headLines = (head: string) => head.split("\r\n");

  test("the head: status line, Server, Date, Content-Type, Content-Length, Connection", () => {
    const { head, body } = errorResponse(502, { keepAlive: true, head: false, serverTokens: "on" });
    const lines = headLines(head);
    assert.equal(lines[0], "HTTP/1.1 502 Bad Gateway");
    assert.equal(lines[1], `Server: ${SERVER_TOKEN}`);
    assert.match(lines[2]!, /^Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.deepEqual(lines.slice(3), [
      "Content-Type: text/html",
      "Content-Length: 157",
      "Connection: keep-alive",
      "",
      "",
    ]);
    assert.equal(body, PAGE_502);
  });

  test("494 is sent as 400 with its own page", () => {
    assert.equal(wireStatus(STATUS_HEADER_TOO_LARGE), 400);
    assert.equal(wireStatus(502), 502);
    const { head, body } = errorResponse(STATUS_HEADER_TOO_LARGE, {
      keepAlive: false,
      head: false,
      serverTokens: "on",
    });
    assert.equal(headLines(head)[0], "HTTP/1.1 400 Bad Request");
    assert.ok(head.includes(`\r\nContent-Length: ${PAGE_494.length}\r\nConnection: close\r\n\r\n`));
    assert.equal(body, PAGE_494);
  });

  test("Keep-Alive: timeout=N only on a connection kept open", () => {
    const kept = errorResponse(404, { keepAlive: true, head: false, serverTokens: "on", keepAliveHeader: "timeout=5" });
    assert.ok(kept.head.endsWith("Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"));
    const closed = errorResponse(404, {
      keepAlive: false,
      head: false,
      serverTokens: "on",
      keepAliveHeader: "timeout=5",
    });
    assert.ok(closed.head.endsWith("Connection: close\r\n\r\n"));
  });

  test("HEAD: the same head, Content-Length included, and no page", () => {
    const { head, body } = errorResponse(502, { keepAlive: true, head: true, serverTokens: "off" });
    assert.ok(head.includes("\r\nServer: wsgate\r\n"));
    assert.ok(head.includes("\r\nContent-Length: 151\r\n"));
    assert.equal(body, "");
  });
});

describe("errorClosesConnection", () => {
  test("400, 494, 413, 414, 500, 501 and 505 close the connection", () => {
    for (const status of [400, STATUS_HEADER_TOO_LARGE, 413, 414, 500, 501, 505]) {
      assert.equal(errorClosesConnection(status), true, String(status));
    }
  });

  test("other errors keep it (nginx keeps the connection after a 502)", () => {
    for (const status of [403, 404, 405, 502, 503, 504]) {
      assert.equal(errorClosesConnection(status), false, String(status));
    }
  });
});
