/**
 * Hosts as nginx checks them, against nginx: the Host header through
 * ngx_http_validate_host() (a space, a control byte, "/", ".." or nothing left
 * is a 400 "client sent invalid host header"; "\", "@", an unterminated "[" and
 * bytes past 0x7f pass; the port and a trailing dot are dropped, the name
 * lower-cased), and the authority of an absolute-form target through
 * ngx_http_parse_request_line() (only letters, digits, "." and "-", a bracketed
 * literal, then digits after ":": userinfo, ",", "#", "_", "%" are a 400
 * "client sent invalid request"; a host ngx_http_validate_host() refuses is a
 * 400 "client sent invalid host in request line"). Compared: the status, what
 * reached the backend (request line, $host) and the reason in the error log.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { skipWithoutNginx, startRecordingBackend, type Peer, type RecordingBackend, peersWith } from "./peers.js";
import { exchange } from "../support/sockets.js";

const skip = skipWithoutNginx();

const conf = (backend: number): string => `
  server {
    listen PORT;
    location / { proxy_pass http://127.0.0.1:${backend}; proxy_set_header X-Host $host; }
  }`;

const HOST_HEADERS: readonly string[] = [
  "a b",
  "a\tb",
  "a\x7fb",
  "a/b",
  "a\\b",
  "a..b",
  ":80",
  "",
  "u@evil",
  "[::1",
  "[::1]:80",
  "A.B.",
  "a.:80",
  "a:b:c",
  "a:8.0",
  ".a",
  "\xc9.A",
];

const TARGETS: readonly string[] = [
  "http://u@evil/x",
  "http://a:b/x",
  "http://a,b/x",
  "http://a#b/x",
  "http://a_b/x",
  "http://a%41/x",
  "http://a:80:90/x",
  "http://[::1/x",
  "http://[::1]x/",
  "http://[a@b]/x",
  "http:///x",
  "http://a..b/x",
  "http:/a/x",
  "1http://a/x",
  "http://a?b",
  "http://a",
  "http://a:/x",
  "http://A.B.:80/x",
  "http://[::1]:80/x",
  "HTTP://a/x",
  "ftp://a/x",
  "h+t.t-p://a/x",
];

describe("differential: Host headers and absolute-form authorities", { skip }, () => {
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

  /** The status line, the request line and $host the backend got ("" if none), and the error-log reason. */
  async function outcome(peer: Peer, request: string): Promise<string[]> {
    const heads = backend.heads.length;
    const logged = peer.errorLog().length;
    const reply = (await exchange(peer.port, request)).toString("latin1");
    const head = backend.heads.length > heads ? backend.heads[backend.heads.length - 1]! : "";
    const reason = /\] \d+#\d+: \*\d+ (client sent [^,]*?)(?: while reading [^,]*)?,/.exec(
      peer.errorLog().slice(logged),
    );
    return [
      reply.slice(0, reply.indexOf("\r\n")),
      head.slice(0, head.indexOf("\r\n")),
      /\r\nx-host: ([^\r]*)/i.exec(head)?.[1] ?? "",
      reason?.[1] ?? "",
    ];
  }

  async function compare(request: string): Promise<void> {
    // One at a time: the backend's heads are told apart by order.
    const nginx = await outcome(peers.nginx!, request);
    const wsgate = await outcome(peers.wsgate!, request);
    assert.deepEqual(wsgate, nginx, JSON.stringify(request));
  }

  test("Host header values", async () => {
    for (const host of HOST_HEADERS) await compare(`GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });

  test("absolute-form targets", async () => {
    for (const target of TARGETS) await compare(`GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
  });

  test("the Host header is checked even when the target names the host", async () => {
    await compare("GET http://a/x HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n");
    await compare("GET http://a/x HTTP/1.0\r\nConnection: close\r\n\r\n");
  });
});
