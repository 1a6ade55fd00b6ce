/**
 * Keep-alive against nginx: the same configuration under nginx and wsgate,
 * the same requests over raw sockets, and for every answer the status line,
 * the Connection and Keep-Alive lines, and whether the connection then
 * closes (shown by a follow-up request on the same connection: answered, or
 * the connection ends). Covers keepalive_timeout 0 for every kind of answer,
 * keepalive_requests, HTTP/1.0, "Connection: close", error pages (nginx's,
 * and error_page to a file, a named location, a URL) and the statuses that
 * force a close.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skipWithoutNginx, startPeer, startRecordingBackend, type Peer, type RecordingBackend } from "./peers.js";

const skip = skipWithoutNginx();

/** Statuses answered by `return` in /status/<code>. */
const STATUSES = [400, 408, 413, 414, 500, 501, 502, 503, 505];

const CONF = (docroot: string, backend: number): string => `
  server {
    listen PORT default_server;
    server_name main;
    root ${docroot};

    location = /ok { return 200 "ok\\n"; }
    location = /file.txt { }
    location = /err.html { }
    location = /status { stub_status; }
    location = /proxy { proxy_pass http://127.0.0.1:${backend}; }
    location = /timeout-header { keepalive_timeout 10s 7s; return 200 "x\\n"; }
    location = /small { client_max_body_size 1; return 200 "small\\n"; }

    location = /k0/return { keepalive_timeout 0; return 404; }
    location = /k0/return-text { keepalive_timeout 0; return 200 "x\\n"; }
    location = /k0/file.txt { keepalive_timeout 0; }
    location = /k0/status { keepalive_timeout 0; stub_status; }
    location = /k0/proxy { keepalive_timeout 0; proxy_pass http://127.0.0.1:${backend}; }
    location = /k0/error-file { keepalive_timeout 0; error_page 404 /err.html; return 404; }
    location = /k0/error-named { keepalive_timeout 0; error_page 404 @named; return 404; }
    location = /k0/error-redirect { keepalive_timeout 0; error_page 404 http://example.com/x; return 404; }

    location = /own/404 { return 404; }
    location = /own/missing.txt { }
    location = /ep/file { error_page 404 /err.html; return 404; }
    location = /ep/named { error_page 404 @named; return 404; }
    location = /ep/redirect { error_page 404 http://example.com/x; return 404; }
    location = /ep/to-k0 { error_page 404 /k0/file.txt; return 404; }
    location = /ep/500-file { error_page 500 /err.html; return 500; }
    location = /ep/500-code { error_page 500 =200 /err.html; return 500; }
    location = /ep/500-named { error_page 500 @named; return 500; }
    location = /ep/500-redirect { error_page 500 http://example.com/x; return 500; }
    location = /ep/missing { error_page 404 /err.html; }
    location @named { return 200 "named\\n"; }

${STATUSES.map((code) => `    location = /status/${code} { return ${code}; }`).join("\n")}
  }

  server {
    listen PORT;
    server_name requests;
    keepalive_requests 2;
    location / { return 200 "r\\n"; }
  }

  server {
    listen PORT;
    server_name server-k0;
    keepalive_timeout 0;
    if ($uri = /server-return) { return 404; }
    location / { return 200 "s\\n"; }
  }`;

/** A request to the `main` server (HTTP/1.1 unless the line says otherwise). */
const get = (path: string, extra = "", host = "main"): string =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

interface Outcome {
  /** Per answer: the status line, then its Connection and Keep-Alive lines. */
  readonly answers: string[][];
  /** After the last answer, a follow-up request: answered ("open") or not ("closed"). */
  readonly after: "open" | "closed";
}

/** Where the first whole response in `data` ends (its length is known from Content-Length), or -1. */
function responseEnd(data: Buffer): number {
  const headEnd = data.indexOf("\r\n\r\n");
  if (headEnd === -1) return -1;
  const head = data.toString("latin1", 0, headEnd);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  const end = headEnd + 4 + (/^HTTP\/1\.1 (1\d\d|204|304)/.test(head) ? 0 : length);
  return data.length >= end ? end : -1;
}

function summary(response: Buffer): string[] {
  const lines = response.toString("latin1").split("\r\n\r\n")[0]!.split("\r\n");
  return [lines[0]!, ...lines.filter((line) => /^(connection|keep-alive):/i.test(line))];
}

/**
 * Send each request on one connection after the previous answer, then a
 * follow-up: every step waits on socket events, bounded by 5 s in all.
 */
function converse(port: number, requests: readonly string[], followUp: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const answers: string[][] = [];
    let buffered = Buffer.alloc(0);
    let step = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no outcome after ${answers.length} answers to ${JSON.stringify(requests[0])}`));
    }, 5000);
    const done = (after: "open" | "closed"): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers, after });
    };
    const sendNext = (): void => {
      socket.write(step < requests.length ? requests[step]! : followUp, "latin1");
    };
    socket.on("connect", sendNext);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let end = responseEnd(buffered); end !== -1; end = responseEnd(buffered)) {
        const response = buffered.subarray(0, end);
        buffered = buffered.subarray(end);
        if (step === requests.length) {
          done("open");
          return;
        }
        answers.push(summary(response));
        step++;
        // A closing server may reset the follow-up; that too says "closed".
        if (!socket.destroyed) sendNext();
      }
    });
    const closed = (): void => {
      if (step < requests.length && buffered.length === 0) answers.push(["(closed without an answer)"]);
      done("closed");
    };
    socket.on("end", closed);
    socket.on("error", closed);
  });
}

/** Each case: a name, the requests on one connection, and the follow-up (default: /ok to the same server). */
const CASES: ReadonlyArray<readonly [string, readonly string[], string?]> = [
  ["return 404, kept", [get("/own/404")]],
  ["keepalive_timeout 0: return 404", [get("/k0/return")]],
  ["keepalive_timeout 0: return with text", [get("/k0/return-text")]],
  ["keepalive_timeout 0: a static file", [get("/k0/file.txt")]],
  ["keepalive_timeout 0: stub_status", [get("/k0/status")]],
  ["keepalive_timeout 0: a proxied response", [get("/k0/proxy")]],
  ["keepalive_timeout 0: error_page to a file", [get("/k0/error-file")]],
  ["keepalive_timeout 0: error_page to a named location", [get("/k0/error-named")]],
  ["keepalive_timeout 0: error_page to a URL", [get("/k0/error-redirect")]],
  [
    "keepalive_timeout 0 at server level: return in the server's rewrite phase",
    [get("/server-return", "", "server-k0")],
  ],
  ["keepalive_timeout 0 at server level: a location", [get("/", "", "server-k0")]],
  ["a static file, kept", [get("/file.txt")]],
  ["stub_status, kept", [get("/status")]],
  ["a proxied response, kept", [get("/proxy")]],
  ["keepalive_timeout with a header value", [get("/timeout-header")]],
  ["keepalive_requests 2 reached", [get("/", "", "requests"), get("/", "", "requests")], get("/", "", "requests")],
  ["HTTP/1.0 without Connection", ["GET /file.txt HTTP/1.0\r\n\r\n"]],
  ["HTTP/1.0 with Connection: keep-alive", ["GET /file.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]],
  ["HTTP/1.0 keep-alive, a proxied response", ["GET /proxy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]],
  ["HTTP/1.0 keep-alive, an error page", ["GET /own/404 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]],
  ["Connection: close", [get("/file.txt", "Connection: close\r\n")]],
  ["Connection: close to a proxied response", [get("/proxy", "Connection: close\r\n")]],
  ['"close" inside another word (nginx searches the text)', [get("/ok", "Connection: xclosex\r\n")]],
  ["two Connection lines: the last one counts", [get("/ok", "Connection: close\r\nConnection: keep-alive\r\n")]],
  ["nginx's own 404 for a missing file", [get("/own/missing.txt")]],
  ["error_page 404 to a file", [get("/ep/file")]],
  ["error_page 404 to a named location", [get("/ep/named")]],
  ["error_page 404 to a URL", [get("/ep/redirect")]],
  ["error_page 404 to a location with keepalive_timeout 0", [get("/ep/to-k0")]],
  ["error_page for a missing file", [get("/ep/missing")]],
  ["error_page 500 to a file", [get("/ep/500-file")]],
  ["error_page 500 =200 to a file", [get("/ep/500-code")]],
  ["error_page 500 to a named location", [get("/ep/500-named")]],
  ["error_page 500 to a URL", [get("/ep/500-redirect")]],
  ["return 400", [get("/status/400")]],
  ["return 413", [get("/status/413")]],
  ["return 414", [get("/status/414")]],
  ["return 500", [get("/status/500")]],
  ["return 501", [get("/status/501")]],
  ["return 502, kept", [get("/status/502")]],
  ["return 503, kept", [get("/status/503")]],
  ["return 505, kept (nginx's 505 closes only when the parser finds it)", [get("/status/505")]],
  ["return 408: closed without an answer", [get("/status/408")]],
  [
    "a body over client_max_body_size: 413",
    ["POST /small HTTP/1.1\r\nHost: main\r\nContent-Length: 10\r\n\r\n0123456789"],
  ],
  ["a body read and dropped by return", ["POST /ok HTTP/1.1\r\nHost: main\r\nContent-Length: 5\r\n\r\nhello"]],
  ["a bad request: duplicate Host", ["GET /ok HTTP/1.1\r\nHost: main\r\nHost: main\r\n\r\n"]],
  ["an unknown Transfer-Encoding: 501", ["POST /ok HTTP/1.1\r\nHost: main\r\nTransfer-Encoding: gzip\r\n\r\n"]],
  ["TRACE: 405, refused before the request is handled", ["TRACE /ok HTTP/1.1\r\nHost: main\r\n\r\n"]],
  [
    "a POST from MSIE 6 (keepalive_disable msie6)",
    ["POST /ok HTTP/1.1\r\nHost: main\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)\r\n\r\n"],
  ],
  ["a GET from MSIE 6, kept", [get("/ok", "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)\r\n")]],
  [
    "a POST from MSIE 6 SV1, kept",
    ["POST /ok HTTP/1.1\r\nHost: main\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)\r\n\r\n"],
  ],
];

describe("keep-alive, compared with nginx", { skip }, () => {
  let docroot: string;
  let backend: RecordingBackend;
  let nginx: Peer;
  let wsgate: Peer;

  before(async () => {
    docroot = mkdtempSync(join(tmpdir(), "wsgate-keepalive-"));
    mkdirSync(join(docroot, "k0"));
    writeFileSync(join(docroot, "file.txt"), "a file\n");
    writeFileSync(join(docroot, "err.html"), "<p>error page</p>\n");
    writeFileSync(join(docroot, "k0", "file.txt"), "k0 file\n");
    backend = await startRecordingBackend();
    nginx = await startPeer("nginx", CONF(docroot, backend.port));
    wsgate = await startPeer("wsgate", CONF(docroot, backend.port));
  });

  after(async () => {
    await nginx?.stop();
    await wsgate?.stop();
    await backend?.close();
    rmSync(docroot, { recursive: true, force: true });
  });

  for (const [name, requests, followUp] of CASES) {
    test(name, async () => {
      const host = /\r\nHost: ([^\r]+)/.exec(requests[0]!)?.[1] ?? "main";
      const next = followUp ?? get(host === "main" ? "/ok" : "/", "", host);
      const expected = await converse(nginx.port, requests, next);
      const actual = await converse(wsgate.port, requests, next);
      assert.deepEqual(actual, expected);
    });
  }

  // The two bugs of issue 11, stated outright as well as compared.
  test("keepalive_timeout 0: return 404 says close and closes", async () => {
    const outcome = await converse(wsgate.port, [get("/k0/return")], get("/ok"));
    assert.deepEqual(outcome, { answers: [["HTTP/1.1 404 Not Found", "Connection: close"]], after: "closed" });
  });

  test("an error_page file for a 500 says close and closes", async () => {
    const outcome = await converse(wsgate.port, [get("/ep/500-file")], get("/ok"));
    assert.deepEqual(outcome, {
      answers: [["HTTP/1.1 500 Internal Server Error", "Connection: close"]],
      after: "closed",
    });
  });
});

describe("wsgate_upstream_status keeps the connection by the same rule", () => {
  let wsgate: Peer;

  before(async () => {
    wsgate = await startPeer(
      "wsgate",
      `upstream u { server 127.0.0.1:1; }
       server {
         listen PORT;
         location = /upstreams { wsgate_upstream_status; }
         location = /k0/upstreams { keepalive_timeout 0; wsgate_upstream_status; }
         location = /ok { return 200 "ok\\n"; }
       }`,
    );
  });

  after(async () => {
    await wsgate?.stop();
  });

  test("kept by default", async () => {
    const outcome = await converse(wsgate.port, [get("/upstreams")], get("/ok"));
    assert.deepEqual(outcome, { answers: [["HTTP/1.1 200 OK", "Connection: keep-alive"]], after: "open" });
  });

  test("closed with keepalive_timeout 0", async () => {
    const outcome = await converse(wsgate.port, [get("/k0/upstreams")], get("/ok"));
    assert.deepEqual(outcome, { answers: [["HTTP/1.1 200 OK", "Connection: close"]], after: "closed" });
  });

  test("HTTP/1.0 without keep-alive: closed", async () => {
    const outcome = await converse(wsgate.port, ["GET /upstreams HTTP/1.0\r\n\r\n"], get("/ok"));
    assert.deepEqual(outcome, { answers: [["HTTP/1.1 200 OK", "Connection: close"]], after: "closed" });
  });
});
