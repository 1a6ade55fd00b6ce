/**
 * Line ends in a request, against nginx: a bare LF ends the request line, a
 * header line, the empty line and a chunked body's framing lines as CRLF does
 * (RFC 9112 2.2; ngx_http_parse_request_line, ngx_http_parse_header_line,
 * ngx_http_parse_chunked), and CRs nginx refuses (one not followed by LF,
 * two before the request line's LF) and NUL stay a 400. Compared: the status,
 * the heads the backend received (written with CRLF whatever the client
 * sent) and how many: nothing hidden in a line reaches the backend.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startRecordingBackend, type Peer, type RecordingBackend, peersWith } from "./peers.js";
import { exchange } from "../support/sockets.js";

const skip = skipWithoutNginx();

const conf = (backend: number): string => `
  server {
    listen PORT;
    location / { proxy_pass http://127.0.0.1:${backend}; }
  }`;

const CLOSE = "Connection: close";
const CHUNKED = `POST /c HTTP/1.1\nHost: a\n${CLOSE}\nTransfer-Encoding: chunked\n\n`;

const REQUESTS: readonly string[] = [
  `GET /lf HTTP/1.1\nHost: a\nX-A:  1 \n${CLOSE}\n\n`,
  `GET /mixed HTTP/1.1\r\nHost: a\nX-A: 1\r\n${CLOSE}\n\r\n`,
  `GET /blank HTTP/1.1\r\nHost: a\r\n${CLOSE}\r\n\n`,
  `\r\n\nGET /leading HTTP/1.1\nHost: a\n${CLOSE}\n\n`,
  `\r\rGET /leading-cr HTTP/1.1\r\nHost: a\r\n${CLOSE}\r\n\r\n`,
  `GET /space HTTP/1.1 \nHost: a\n${CLOSE}\n\n`,
  `GET /crs HTTP/1.1\nHost: a\r\r\n${CLOSE}\n\n`,
  `GET /crs-request-line HTTP/1.1\r\r\nHost: a\n${CLOSE}\n\n`,
  `GET /crs-blank HTTP/1.1\nHost: a\n${CLOSE}\n\r\r\n`,
  `GET /cr-in-line HTTP/1.1\nHost: a\rX-Hidden: 1\n${CLOSE}\n\n`,
  `GET /crs-in-line HTTP/1.1\nHost: a\r\rX-Hidden: 1\n${CLOSE}\n\n`,
  `GET /cr-in-request-line HTTP/1.1\rX-Hidden: 1\nHost: a\n${CLOSE}\n\n`,
  `GET /cr\rin-target HTTP/1.1\nHost: a\n${CLOSE}\n\n`,
  `GET /cr-blank HTTP/1.1\nHost: a\n${CLOSE}\n\rGET /hidden HTTP/1.1\n\n`,
  `GET /nul-name HTTP/1.1\nHost: a\nX\0: 1\n${CLOSE}\n\n`,
  `GET /nul-value HTTP/1.1\nHost: a\nX: a\0b\n${CLOSE}\n\n`,
  `GET /nul-target\0 HTTP/1.1\nHost: a\n${CLOSE}\n\n`,
  `${CHUNKED}5\nhello\n0\n\n`,
  `${CHUNKED}5;ext\nhello\r\n0;e\n\n`,
  `${CHUNKED}5\r\nhello\r\n0\r\nX-Trailer: 1\nY: 2\r\n\n`,
  `${CHUNKED}5\rX\nhello\r\n0\r\n\r\n`,
  `${CHUNKED}5\r\nhello\rX0\r\n\r\n`,
  `${CHUNKED}5\r\nhello\r\r\n0\r\n\r\n`,
  `${CHUNKED}5\r\nhello\r\n0\r\nX-Trailer: 1\rX: 2\r\n\r\n`,
  `${CHUNKED}5\r\nhello\r\n0\r\nX-Trailer: 1\r\r\n\r\n`,
  `${CHUNKED}5\r\nhello\r\n0\r\n\r\r\n`,
];

const PIPELINED = [
  "GET /one HTTP/1.1\nHost: a\n\n",
  "GET /two HTTP/1.1\r\nHost: a\n\r\n",
  `GET /three HTTP/1.1\nHost: a\n${CLOSE}\n\n`,
].join("");

describe("differential: bare LF and CR in requests", { skip }, () => {
  let backend: RecordingBackend;
  const peers = peersWith(
    async () => {
      backend = await startRecordingBackend();
      return conf(backend.port);
    },
    async () => {
      await backend?.close();
    },
  );

  /** The status lines of the replies, and the heads the backend received for the request. */
  async function outcome(peer: Peer, request: string): Promise<{ statuses: string[]; heads: string[] }> {
    const before = backend.heads.length;
    const reply = (await exchange(peer.port, request)).toString("latin1");
    const statuses = reply.match(/^HTTP\/1\.1 \d+ [^\r]*/gm) ?? [];
    return { statuses, heads: backend.heads.slice(before) };
  }

  async function compare(request: string): Promise<{ statuses: string[]; heads: string[] }> {
    // One at a time: the backend's heads are told apart by order.
    const nginx = await outcome(peers.nginx!, request);
    const wsgate = await outcome(peers.wsgate!, request);
    assert.deepEqual(wsgate, nginx, JSON.stringify(request));
    for (const head of wsgate.heads) {
      assert.ok(!/[^\r]\n|\r[^\n]/.test(head), `the backend's head is in CRLF lines: ${JSON.stringify(head)}`);
      assert.ok(!/hidden/i.test(head), `nothing hidden reaches the backend: ${JSON.stringify(head)}`);
    }
    return wsgate;
  }

  for (const request of REQUESTS) {
    test(JSON.stringify(request.slice(0, 60)), async () => {
      await compare(request);
    });
  }

  test("the outcomes are the ones nginx's parser gives (so the comparison cannot pass vacuously)", async () => {
    assert.deepEqual((await compare(REQUESTS[0]!)).statuses, ["HTTP/1.1 200 OK"]);
    assert.deepEqual((await compare(REQUESTS[9]!)).statuses, ["HTTP/1.1 400 Bad Request"]);
    assert.deepEqual((await compare(REQUESTS[17]!)).heads.length, 1);
  });

  test("pipelined requests in bare-LF lines are each answered and forwarded", async () => {
    const { statuses, heads } = await compare(PIPELINED);
    assert.equal(statuses.length, 3);
    assert.deepEqual(
      heads.map((head) => head.slice(0, head.indexOf("\r\n"))),
      ["GET /one HTTP/1.0", "GET /two HTTP/1.0", "GET /three HTTP/1.0"],
    );
  });
});
