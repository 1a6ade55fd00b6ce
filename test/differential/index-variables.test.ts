/**
 * Variables of nginx's index in an access log: the same requests to nginx
 * and wsgate, with a log_format naming many of them, compared line by line.
 * Values that differ by nature are masked by their shape (times as N.NNN,
 * the pid, each peer's own port); everything else must be byte-equal.
 *
 * Not compared: $tcpinfo_* (nginx reads TCP_INFO, Node cannot: wsgate's are
 * not found), $nginx_version (Debian's nginx is 1.22, wsgate says 1.28),
 * $connections_waiting (nginx counts a connection in lingering close after a
 * request body as waiting while the request is logged; wsgate does not).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { listenTracked, skipWithoutNginx, startPeer, type ScriptedBackend } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";

const skip = skipWithoutNginx();

/** Answers each request with a cookie and a fixed body, after the whole Content-Length body arrived. */
function startCookieBackend(): Promise<ScriptedBackend> {
  return listenTracked((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffered.toString("latin1", 0, end))?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = Buffer.alloc(0);
      socket.end(
        "HTTP/1.1 200 OK\r\nSet-Cookie: first=1; Path=/\r\nSet-Cookie: SID = s-42 ; HttpOnly\r\n" +
          "Content-Length: 6\r\nConnection: close\r\n\r\nhello\n",
      );
    });
  });
}

const FORMAT = [
  "$request_method $uri st=$status pp=$proxy_port pipe=$pipe bra=$binary_remote_addr",
  'rb="$request_body" rbf="$request_body_file" rl=$request_length',
  "ua=$upstream_addr us=$upstream_status url=$upstream_response_length ubr=$upstream_bytes_received",
  "ubs=$upstream_bytes_sent uc=$upstream_cookie_sid ucf=$upstream_cookie_first ucx=$upstream_cookie_none",
  "ut=$upstream_trailer_x stt=$sent_trailer_x uct=$upstream_connect_time uht=$upstream_header_time",
  "urt=$upstream_response_time rt=$request_time ct=$connection_time cr=$connection_requests",
  "rc=$request_completion ia=$is_args dr=$document_root rr=$realpath_root rf=$request_filename",
  "sa=$server_addr sp=$server_port https=$https scheme=$scheme cl=$content_length ctype=$content_type",
  "ca=$connections_active crd=$connections_reading cw=$connections_writing",
  "scv=$ssl_client_verify ssi=$ssl_session_id scs=$ssl_curves pid=$pid hn=$hostname",
  "bs=$bytes_sent bbs=$body_bytes_sent",
].join(" ");

const HTTP = (backend: number): string => `
  log_format vars '${FORMAT}';
  server {
    listen PORT;
    root /tmp;
    access_log logs/vars.log vars;
    location /p/ { proxy_pass http://127.0.0.1:${backend}; }
    location /local { return 200 "local\\n"; }
  }`;

const REQUESTS = [
  "GET /p/a?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  "POST /p/b HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
  // Two requests in one write: the second is pipelined.
  "GET /p/c HTTP/1.1\r\nHost: a\r\n\r\nGET /local HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  "GET /local?y HTTP/1.0\r\n\r\n",
];

/** Each peer's own values masked by shape: times, its port, its pid. */
function masked(line: string, port: number): string {
  return line
    .replace(/\b\d+\.\d{3}\b/g, "N.NNN")
    .replaceAll(`sp=${port}`, "sp=PORT")
    .replace(/pid=\d+/, "pid=PID");
}

describe("differential: variables of nginx's index in an access log", { skip }, () => {
  let backend: ScriptedBackend;
  before(async () => {
    backend = await startCookieBackend();
  });
  after(async () => backend?.close());

  test("the same log lines as nginx, volatile values masked by shape", async () => {
    const seen: Record<string, string[]> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(name, HTTP(backend.port));
      try {
        for (const request of REQUESTS) await exchange(peer.port, request);
        await linesEventually(() => peer.readLog("vars.log"), 5);
        seen[name] = peer
          .readLog("vars.log")
          .split("\n")
          .filter(Boolean)
          .map((line) => masked(line, peer.port));
      } finally {
        await peer.stop();
      }
    }
    const nginx = seen.nginx!;
    // nginx's own values that the comparison rests on.
    assert.equal(nginx.length, 5);
    assert.ok(nginx[0]!.includes(`pp=${backend.port} pipe=. bra=\\x7F\\x00\\x00\\x01 `), nginx[0]);
    assert.match(nginx[1]!, /rb="hello" rbf="-"/);
    // The value runs to ";", its trailing space kept (ngx_http_parse_set_cookie_lines).
    assert.match(nginx[0]!, / uc=s-42 {2}ucf=1 ucx=- /);
    assert.match(nginx[3]!, /pipe=p /);
    for (let i = 0; i < nginx.length; i++) assert.equal(seen.wsgate![i], nginx[i], `line ${i + 1}`);
  });
});
