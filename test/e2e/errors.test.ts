/**
 * Errors over raw sockets: an upstream that refuses connections (nginx's 502
 * page and error-log line), an upstream whose Content-Length and
 * Transfer-Encoding headers do not frame its body in one way (502, as nginx
 * 1.23+), and malformed client requests, each answered with nginx's status
 * and page; the process serves on afterwards.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { SERVER_TOKEN } from "../../src/version.js";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import {
  header,
  logLines,
  rawBackend,
  rawClient,
  rawExchange,
  seedConf,
  statusOf,
  within,
  type Message,
  type RawBackend,
} from "./wire.js";

/** nginx's error page (ngx_http_special_response.c) with wsgate's token. */
function errorPage(title: string, extra = ""): string {
  return (
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n` +
    `${extra}<hr><center>${SERVER_TOKEN}</center>\r\n</body>\r\n</html>\r\n`
  );
}

/** Responses whose framing headers nginx 1.23+ refuses, by path, with the error-log text. */
const BAD_FRAMING: Readonly<Record<string, { response: string; log: string }>> = {
  "/framing/two-lengths": {
    response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello",
    log: `upstream sent duplicate header line: "Content-Length: 5", previous value: "Content-Length: 3"`,
  },
  "/framing/length-and-chunked": {
    response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    log: `upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`,
  },
  "/framing/negative": {
    response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
    log: `upstream sent invalid "Content-Length" header: "Content-Length: -1"`,
  },
  "/framing/gzip": {
    response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    log: `upstream sent unknown "Transfer-Encoding": "gzip"`,
  },
};

describe("errors", () => {
  let live: RawBackend;
  let framing: RawBackend;
  let wsgate: WsgateProcess;
  let proxyPort: number;
  let deadPort: number;

  before(async () => {
    live = await rawBackend(async (socket, reader) => {
      const request = await reader.request();
      const body = `alive: ${request.startLine}`;
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    framing = await rawBackend(async (socket, reader) => {
      const request = await reader.request();
      socket.end(BAD_FRAMING[request.startLine.split(" ")[1]!]?.response ?? "HTTP/1.1 500 Unknown\r\n\r\n");
    });
    // Nothing listens on this port: connect() is refused.
    deadPort = await freePort();
    proxyPort = await freePort();
    const alive =
      `location /alive/ { proxy_pass http://127.0.0.1:${live.port}; }\n` +
      `location /framing/ { proxy_pass http://127.0.0.1:${framing.port}; }`;
    wsgate = await startWsgate({ conf: seedConf(proxyPort, deadPort, alive) });
  });

  after(async () => {
    await wsgate?.stop();
    await live?.close();
    await framing?.close();
  });

  for (const [path, { log }] of Object.entries(BAD_FRAMING)) {
    test(`an upstream response framed two ways or not at all (${path}): 502 and nginx 1.23+'s line`, async () => {
      const response = await rawExchange(proxyPort, `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert.equal(response.startLine, "HTTP/1.1 502 Bad Gateway");
      assert.equal(response.body.toString("latin1"), errorPage("502 Bad Gateway"));
      const line = `[error] `;
      const expected = `${log} while reading response header from upstream, client: 127.0.0.1, server: , request: "GET ${path} HTTP/1.1", upstream: "http://127.0.0.1:${framing.port}${path}", host: "h"`;
      await waitFor(
        () => logLines(wsgate.errorLog()).some((text) => text.includes(line) && text.endsWith(expected)),
        3000,
        `the line ${expected}`,
      );
    });
  }

  test("an upstream that refuses the connection: 502 with nginx's page, and nginx's error-log line", async () => {
    const response = await rawExchange(proxyPort, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${proxyPort}\r\n\r\n`);
    assert.equal(response.startLine, "HTTP/1.1 502 Bad Gateway");
    assert.equal(header(response, "content-type"), "text/html");
    assert.equal(header(response, "server"), SERVER_TOKEN);
    assert.equal(response.body.toString("latin1"), errorPage("502 Bad Gateway"));
    assert.equal(header(response, "content-length"), String(response.body.length));

    const pattern = new RegExp(
      String.raw`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[error\] \d+#\d+: \*\d+ connect\(\) failed \(111: Connection refused\) ` +
        String.raw`while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET / HTTP/1\.1", ` +
        String.raw`upstream: "http://127\.0\.0\.1:${deadPort}/", host: "127\.0\.0\.1:${proxyPort}"$`,
    );
    await waitFor(() => logLines(wsgate.errorLog()).some((line) => pattern.test(line)), 3000, "the connect() line");
    const refused = logLines(wsgate.errorLog()).filter((line) => line.includes("connect() failed"));
    assert.equal(refused.length, 1, refused.join("\n"));
  });

  /** Send `request` on a fresh connection: the response, and whether the server closed the connection after it. */
  async function malformed(request: string): Promise<{ response: Message; closed: boolean }> {
    const { socket, reader } = await rawClient(proxyPort);
    try {
      socket.write(request, "latin1");
      const response = await reader.response();
      const closed = await within(reader.closed, 2000, "the server closing the connection").then(
        () => true,
        () => false,
      );
      return { response, closed };
    } finally {
      socket.destroy();
    }
  }

  const cases: ReadonlyArray<{ name: string; request: string; status: string; page: string }> = [
    {
      name: "a request line with a CR not followed by LF (a bare LF is accepted, as by nginx)",
      request: "GET /alive/ HTTP/1.1\rHost: 127.0.0.1\n\n",
      status: "400 Bad Request",
      page: errorPage("400 Bad Request"),
    },
    {
      name: "HTTP/1.1 without Host",
      request: "GET /alive/ HTTP/1.1\r\nAccept: */*\r\n\r\n",
      status: "400 Bad Request",
      page: errorPage("400 Bad Request"),
    },
    {
      name: "a duplicate Host",
      request: "GET /alive/ HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
      status: "400 Bad Request",
      page: errorPage("400 Bad Request"),
    },
    {
      name: "Content-Length and Transfer-Encoding together",
      request:
        "POST /alive/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      status: "400 Bad Request",
      page: errorPage("400 Bad Request"),
    },
    {
      name: "an unknown Transfer-Encoding",
      request: "POST /alive/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      status: "501 Not Implemented",
      page: errorPage("501 Not Implemented"),
    },
    {
      name: "a request line longer than 8k",
      request: `GET /alive/${"a".repeat(9000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      status: "414 Request-URI Too Large",
      page: errorPage("414 Request-URI Too Large"),
    },
    {
      name: "a header line longer than 8k",
      request: `GET /alive/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"b".repeat(9000)}\r\n\r\n`,
      status: "400 Bad Request",
      page:
        `<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n` +
        `<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n` +
        `<hr><center>${SERVER_TOKEN}</center>\r\n</body>\r\n</html>\r\n`,
    },
  ];

  for (const { name, request, status, page } of cases) {
    test(`${name}: ${status}, nginx's page, and the connection closes`, async () => {
      const { response, closed } = await malformed(request);
      assert.equal(response.startLine, `HTTP/1.1 ${status}`);
      assert.equal(header(response, "connection"), "close");
      assert.equal(response.body.toString("latin1"), page);
      assert.ok(closed, "the server closed the connection");
      assert.ok(wsgate.alive(), "wsgate is running");
    });
  }

  test("after all that, wsgate still serves", async () => {
    const response = await rawExchange(proxyPort, `GET /alive/ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    assert.equal(statusOf(response), 200);
    assert.equal(response.body.toString(), "alive: GET /alive/ok HTTP/1.0");
    assert.ok(wsgate.alive());
    assert.doesNotMatch(wsgate.errorLog(), /\[(alert|crit|emerg)\]/);
  });
});
