/**
 * The differential harness itself: the recording backend parses what it
 * should, and real nginx with the seed configuration in front of it sends the
 * heads docs/nginx-observed.md records.
 */

import { strict as assert } from "node:assert";
import { connect } from "node:net";
import { test } from "node:test";
import WebSocket from "ws";
import { DEFAULT_BODY, ECHO_PREFIX, header, startRecordingBackend } from "./backend.js";
import { listenPorts, nginxSkip, startNginx } from "./nginx.js";
import { once, until, withTimeout } from "./wait.js";
import { freePort } from "./proxy.js";

/** Send `request`, collect the reply until `complete` says it is whole (or the server closes). */
function exchange(port: number, request: string, complete: (reply: string) => boolean): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let reply = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        reply += chunk;
        if (complete(reply)) {
          socket.destroy();
          resolve(reply);
        }
      });
      socket.on("end", () => resolve(reply));
      socket.on("error", reject);
      socket.write(request, "latin1");
    }),
    5000,
    `a reply to ${JSON.stringify(request.slice(0, 40))}`,
  );
}

/** Count complete HTTP responses with Content-Length bodies in `text`. */
function responses(text: string): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end === -1) return count;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(at, end))?.[1] ?? 0);
    if (text.length < end + 4 + length) return count;
    count++;
    at = end + 4 + length;
  }
}

function seedConf(backendPort: number, port: number): string {
  return `
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream websocket { server 127.0.0.1:${backendPort}; }
  server {
    listen 127.0.0.1:${port};
    access_log logs/access.log main;
    location / {
      proxy_pass http://websocket;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }
  }`;
}

test("listenPorts reads address:port, [v6]:port and bare ports, not comments", () => {
  assert.deepEqual(
    listenPorts(
      "listen 127.0.0.1:8080;\n listen [::1]:8081 default_server;\nlisten 8082;\n# listen 9999;\nlisten unix:/x;",
    ),
    [8080, 8081, 8082],
  );
});

test("the recording backend keeps pipelined heads and bodies (Content-Length and chunked) exactly", async () => {
  const backend = await startRecordingBackend();
  try {
    const first = "GET /a HTTP/1.1\r\nHost: x\r\nX-Order: 1\r\nx-order: 2\r\n\r\n";
    const second = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
    const third = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    const chunked = "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
    const fourth = "HEAD /d HTTP/1.1\r\nHost: x\r\n\r\n";
    const reply = await exchange(backend.port, first + second + "hello" + third + chunked + fourth, (text) => {
      // The HEAD answer carries a Content-Length but no body: three whole responses then one head.
      return responses(text) >= 3 && text.split("HTTP/1.1 200 OK").length === 5 && text.endsWith("\r\n\r\n");
    });
    assert.equal(reply.split(DEFAULT_BODY).length, 4, reply);
    assert.deepEqual(
      backend.requests.map((r) => [r.head, r.body.toString(), r.rawBody.toString(), r.connection, r.index]),
      [
        [first, "", "", 0, 0],
        [second, "hello", "hello", 0, 1],
        [third, "abcde", chunked, 0, 2],
        [fourth, "", "", 0, 3],
      ],
    );
    assert.deepEqual(backend.requests[0]?.headers, [
      ["Host", "x"],
      ["X-Order", "1"],
      ["x-order", "2"],
    ]);
    assert.equal(header(backend.requests[0]!, "X-ORDER"), "1");
  } finally {
    await backend.close();
  }
});

test("seed configuration under nginx: the heads the backend receives", { skip: nginxSkip() }, async (t) => {
  const backend = await startRecordingBackend();
  t.after(() => backend.close());
  const port = await freePort();
  const nginx = await startNginx({ conf: seedConf(backend.port, port) });
  t.after(() => nginx.stop());

  await t.test(
    "plain GET: Connection: close first, Host is the upstream name, hop-by-hop headers dropped",
    async () => {
      const reply = await exchange(
        port,
        "GET /plain?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: harness\r\nConnection: keep-alive, TE\r\n" +
          "Keep-Alive: timeout=5\r\nTE: trailers\r\nX-Custom: a\r\n\r\n",
        (text) => responses(text) === 1,
      );
      assert.match(
        reply,
        /^HTTP\/1\.1 200 OK\r\nServer: nginx\/[\d.]+\r\nDate: [^\r]+ GMT\r\nContent-Type: text\/plain\r\nContent-Length: 19\r\nConnection: keep-alive\r\n\r\nhello from backend\n$/,
      );
      assert.equal(
        backend.requests.at(-1)?.head,
        "GET /plain?x=1 HTTP/1.1\r\nConnection: close\r\nHost: websocket\r\nUser-Agent: harness\r\nX-Custom: a\r\n\r\n",
      );
    },
  );

  await t.test("WebSocket upgrade and one echo; the access log line comes at close", async () => {
    const before = backend.requests.length;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=1`);
    await once(ws, "open", 5000);
    ws.send("hello");
    const [message] = await once(ws, "message", 5000);
    assert.equal(String(message), `${ECHO_PREFIX}hello`);

    const head = backend.requests[before]?.head ?? "";
    assert.match(
      head,
      /^GET \/ws\?room=1 HTTP\/1\.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nHost: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: [A-Za-z0-9+/=]+\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n$/,
    );
    assert.equal(
      nginx
        .accessLog()
        .split("\n")
        .filter((line) => line.includes("/ws?room=1")).length,
      0,
    );

    ws.close(1000);
    await once(ws, "close", 5000);
    const line = await until(
      () =>
        nginx
          .accessLog()
          .split("\n")
          .find((entry) => entry.includes("/ws?room=1")),
      3000,
      "the access log line of the WebSocket session",
    );
    // 36 bytes of echo frame + 4 of the server's close frame: the tunnel bytes sent to the client.
    assert.match(line, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ws\?room=1 HTTP\/1\.1" 101 40 "-" "-" "-"$/);
  });
});

test("upstream down under nginx: 502 and the error-log line of connection *1", { skip: nginxSkip() }, async (t) => {
  const [port, dead] = [await freePort(), await freePort()];
  const nginx = await startNginx({
    conf: `server { listen 127.0.0.1:${port}; location / { proxy_pass http://127.0.0.1:${dead}; } }`,
  });
  t.after(() => nginx.stop());
  const reply = await exchange(
    port,
    "GET /down?a=b HTTP/1.1\r\nHost: example.test\r\n\r\n",
    (text) => responses(text) === 1,
  );
  assert.match(
    reply,
    /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*\r\nContent-Length: 157\r\nConnection: keep-alive\r\n\r\n<html>\r\n/,
  );
  const line = await until(() => nginx.errorLog().split("\n")[0] || undefined, 3000, "the error-log line");
  assert.match(
    line,
    new RegExp(
      String.raw`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[error\] ${nginx.pid}#${nginx.pid}: \*1 connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET /down\?a=b HTTP/1\.1", upstream: "http://127\.0\.0\.1:${dead}/down\?a=b", host: "example\.test"$`,
    ),
  );
  const logged = await until(() => nginx.accessLog().split("\n")[0] || undefined, 3000, "the access-log line");
  assert.match(logged, /"GET \/down\?a=b HTTP\/1\.1" 502 157 "-" "-" "-"$/);
});
