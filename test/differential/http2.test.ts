/**
 * HTTP/2 against Debian's nginx 1.22 (ngx_http_v2_module), the same
 * configuration under both (`listen … http2`, which 1.22 knows and wsgate
 * accepts with 1.28's deprecation warning): through curl with prior
 * knowledge (h2c) and over TLS (h2 by ALPN), and through Node's http2
 * client — status, response headers and bodies, what an HTTP/1.x upstream
 * receives (proxy_http_version 1.0 and 1.1, proxy_request_buffering on and
 * off, bodies with and without a length), return, error pages, static files,
 * a large response, many streams on one connection, a slow reader beside a
 * fast stream, cookies in several fields, and the access-log lines
 * ($server_protocol, $http2, $request, $http_host, $connection_requests).
 *
 * 1.22 on a plain `listen … http2` address speaks only h2c (1.25.1+ also
 * HTTP/1.x there): HTTP/1.1 to it is not compared.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listenTracked, peersWith, skipWithoutNginx, type Peer, type ScriptedBackend } from "./peers.js";
import { h2Request, h2Session, readResponse } from "../support/h2-client.js";
import { parseChunked } from "../support/backend.js";
import { makeCerts, opensslSkip, type TestCerts } from "../tls/certs.js";
import { until } from "../support/wait.js";

const skip = skipWithoutNginx() || opensslSkip();

/** What the upstream received: the request line and headers, and the body (unchunked). */
interface Received {
  readonly head: string;
  readonly body: string;
}

/** An HTTP/1.x upstream recording each request; /large/N answers N bytes, the rest a line naming the request. */
async function startUpstream(): Promise<ScriptedBackend & { readonly received: Received[] }> {
  const received: Received[] = [];
  const server = await listenTracked((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buffered.toString("latin1", 0, end);
      let body: Buffer;
      if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const chunked = parseChunked(buffered, end + 4);
        if (!chunked) return;
        body = chunked.body;
      } else {
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        body = buffered.subarray(end + 4, end + 4 + length);
      }
      buffered = Buffer.alloc(0);
      received.push({ head, body: digest(body) });
      const path = head.split(" ")[1] ?? "";
      if (path.includes("chunked-reply")) {
        // A chunked answer with headers HTTP/2 has no place for: they must not reach the stream.
        socket.end(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\n" +
            "Connection: keep-alive\r\n\r\n6\r\nchunk \r\n5\r\nreply\r\n0\r\n\r\n",
        );
        return;
      }
      const large = /^\/large\/(\d+)/.exec(path);
      const reply = large
        ? Buffer.alloc(Number(large[1]), "x")
        : Buffer.from(`${head.split("\r\n")[0]} ${body.length}\n`);
      socket.end(
        Buffer.concat([
          Buffer.from(
            `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream: yes\r\nContent-Length: ${reply.length}\r\nConnection: close\r\n\r\n`,
          ),
          head.startsWith("HEAD ") ? Buffer.alloc(0) : reply,
        ]),
      );
    });
  });
  return { ...server, received };
}

const LOG = `log_format h2 '$request|$status|$server_protocol|$http2|$http_host|$host|$connection_requests|$http_cookie|$body_bytes_sent';`;

function conf(root: string, upstream: number, listen: string, certs?: TestCerts): string {
  const proxy = (version: string, buffering: string): string =>
    `proxy_pass http://127.0.0.1:${upstream}; proxy_http_version ${version}; proxy_request_buffering ${buffering};`;
  return `
  ${LOG}
  ${certs ? `ssl_certificate ${certs.aCrt}; ssl_certificate_key ${certs.aKey};` : ""}
  server {
    listen 127.0.0.1:PORT ${listen};
    server_name a.test;
    access_log logs/h2.log h2;
    root ${root};
    index index.html;
    location /p10/ { ${proxy("1.0", "on")} }
    location /p11/ { ${proxy("1.1", "on")} }
    location /p10u/ { ${proxy("1.0", "off")} }
    location /p11u/ { ${proxy("1.1", "off")} }
    location /large/ { ${proxy("1.1", "on")} }
    location = /ret { return 200 "returned $request_method\\n"; }
    location = /small { client_max_body_size 4; return 200 "small\\n"; }
    location = /moved { return 301 /ret; }
    location = /empty { return 204; }
    location = /gone { return 404; }
    location /custom/ { error_page 404 /err404.html; }
    location = /vars { return 200 "$server_protocol $http2 [$request] [$http_host] [$host] $connection_requests [$http_cookie]\\n"; }
  }`;
}

function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "wsgate-h2-root-"));
  writeFileSync(join(root, "index.html"), "<p>index</p>\n");
  writeFileSync(join(root, "err404.html"), "<p>custom not found</p>\n");
  mkdirSync(join(root, "dir"));
  writeFileSync(join(root, "dir", "index.html"), "<p>dir index</p>\n");
  writeFileSync(join(root, "big.bin"), Buffer.alloc(5 * 1024 * 1024 + 123, "b"));
  writeFileSync(join(root, "upload.bin"), Buffer.alloc(900 * 1024 + 7, "u"));
  return root;
}

/** Headers that differ by nature between two servers, or by the time. */
const VOLATILE = /^(date|server|etag|last-modified):/i;

/** curl's output (-i) made comparable: the status line, the headers lower-cased and sorted, and the body (hashed past 4 kB). */
function comparableCurl(output: Buffer): { head: string[]; body: string } {
  const end = output.indexOf("\r\n\r\n");
  const headText = output.toString("latin1", 0, end === -1 ? output.length : end);
  const body = end === -1 ? Buffer.alloc(0) : output.subarray(end + 4);
  const [status = "", ...lines] = headText.split("\r\n");
  const head = [
    status.trim(),
    ...lines
      .map((line) => line.toLowerCase())
      .filter((line) => !VOLATILE.test(line))
      .sort(),
  ];
  return { head, body: digest(body) };
}

function digest(body: Buffer): string {
  if (body.length <= 4096) return body.toString("latin1");
  return `${body.length} bytes sha1 ${createHash("sha1").update(body).digest("hex")}`;
}

function curl(args: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      "curl",
      ["-sS", "-i", "--max-time", "10", ...args],
      { encoding: "buffer", maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`curl ${args.join(" ")}: ${err.message} ${stderr.toString()}`));
        else resolve(stdout);
      },
    );
  });
}

function logLines(peer: Peer): string[] {
  try {
    return peer
      .readLog("h2.log")
      .split("\n")
      .filter((line) => line !== "");
  } catch {
    return [];
  }
}

interface Outcome<T> {
  readonly result: T;
  readonly upstream: Received[];
  readonly log: string[];
}

/**
 * Run `exchange` against one peer: what it gave, what the upstream received meanwhile (Host names the same
 * upstream for both), and the access-log lines it added (`lines` of them, waited for: a stream's line is
 * written as it closes, which may come just after the client has its response). The peer's port and its
 * server token read PORT and SERVER; with `unordered`, lines and requests are sorted (streams run at once
 * end in the server's own order).
 */
async function observe<T>(
  peer: Peer,
  upstream: { readonly received: Received[] },
  exchange: (peer: Peer) => Promise<T>,
  lines: number,
  unordered: boolean,
): Promise<Outcome<T>> {
  const logBefore = logLines(peer).length;
  const receivedBefore = upstream.received.length;
  const result = await exchange(peer);
  await until(() => logLines(peer).length >= logBefore + lines, 3000, `${lines} log line(s) from ${peer.name}`);
  const log = logLines(peer).slice(logBefore);
  const received = upstream.received.slice(receivedBefore);
  if (unordered) {
    log.sort();
    received.sort((a, b) => a.head.localeCompare(b.head));
  }
  const text = JSON.stringify({ result, upstream: received, log })
    .replaceAll(`:${peer.port}`, ":PORT")
    .replace(/(nginx|wsgate)\/\d+\.\d+\.\d+/g, "SERVER");
  return JSON.parse(text) as Outcome<T>;
}

/** The same exchange with nginx, then wsgate: everything observed must be equal. */
async function same<T>(
  peers: Partial<Record<"nginx" | "wsgate", Peer>>,
  upstream: { readonly received: Received[] },
  exchange: (peer: Peer) => Promise<T>,
  lines = 1,
  unordered = false,
): Promise<Outcome<T>> {
  const nginx = await observe(peers.nginx!, upstream, exchange, lines, unordered);
  const wsgate = await observe(peers.wsgate!, upstream, exchange, lines, unordered);
  assert.deepEqual(wsgate, nginx);
  return wsgate;
}

/** The curl requests compared, each as curl's arguments after the URL's scheme and address. */
const CURL_CASES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["GET proxied (1.1)", ["/p11/a?x=1"]],
  ["GET proxied (1.0)", ["/p10/b"]],
  ["HEAD proxied", ["-I", "/p11/head"]],
  ["POST with a length (1.1)", ["-d", "hello=world", "/p11/post"]],
  ["POST with a length (1.0)", ["-d", "hello=world", "/p10/post"]],
  ["POST with a length, unbuffered (1.1)", ["-d", "hello=world", "/p11u/post"]],
  ["POST with a length, unbuffered (1.0)", ["-d", "hello=world", "/p10u/post"]],
  ["POST without a length (1.1)", ["-H", "Transfer-Encoding: chunked", "-d", "unsized body", "/p11/chunk"]],
  ["POST without a length (1.0)", ["-H", "Transfer-Encoding: chunked", "-d", "unsized body", "/p10/chunk"]],
  ["POST without a length, unbuffered (1.1)", ["-H", "Transfer-Encoding: chunked", "-d", "unsized", "/p11u/chunk"]],
  ["POST without a length, unbuffered (1.0)", ["-H", "Transfer-Encoding: chunked", "-d", "unsized", "/p10u/chunk"]],
  ["return", ["/ret"]],
  ["return 404", ["/gone"]],
  ["static 404", ["/missing.html"]],
  ["error_page 404", ["/custom/missing"]],
  ["index", ["/"]],
  ["index of a directory", ["/dir/"]],
  ["directory without a slash", ["/dir"]],
  ["HEAD of a static file", ["-I", "/index.html"]],
  ["a large static file", ["/big.bin"]],
  ["a large proxied response", ["/large/3000000"]],
  ["variables, cookies in two fields", ["-H", "Cookie: a=1", "-H", "Cookie: b=2", "/vars?q=1"]],
  ["a Host header", ["-H", "Host: other.test", "/vars"]],
  ["a chunked upstream answer, Keep-Alive and all", ["/p11/chunked-reply"]],
  ["Expect: 100-continue (no interim answer over HTTP/2)", ["-H", "Expect: 100-continue", "-d", "x=1", "/p11/expect"]],
  ["return 301 with a relative URL", ["/moved"]],
  ["return 204", ["/empty"]],
  ["a 900 kB body (1.1)", ["--data-binary", "@ROOT/upload.bin", "/p11/upload"]],
  ["a 900 kB body, unbuffered (1.1)", ["--data-binary", "@ROOT/upload.bin", "/p11u/upload"]],
  [
    "a 900 kB body without a length (1.0)",
    ["-H", "Transfer-Encoding: chunked", "--data-binary", "@ROOT/upload.bin", "/p10/up"],
  ],
];

function suite(name: string, listen: string, scheme: "http" | "https", curlFlags: readonly string[]): void {
  describe(name, { skip }, () => {
    let root: string;
    let certs: TestCerts | undefined;
    let upstream: Awaited<ReturnType<typeof startUpstream>>;
    const peers = peersWith(
      async () => {
        root = makeRoot();
        upstream = await startUpstream();
        if (scheme === "https") certs = makeCerts();
        return conf(root, upstream.port, listen, certs);
      },
      async () => {
        await upstream.close();
        rmSync(root, { recursive: true, force: true });
        certs?.remove();
      },
    );
    const url = (peer: Peer, path: string): string => `${scheme}://127.0.0.1:${peer.port}${path}`;
    const nodeOptions = scheme === "https" ? { rejectUnauthorized: false, servername: "a.test" } : {};

    for (const [title, args] of CURL_CASES) {
      test(`curl: ${title}`, async () => {
        const path = args.at(-1)!;
        const outcome = await same(peers, upstream, async (peer) =>
          comparableCurl(
            await curl([...curlFlags, ...args.slice(0, -1).map((arg) => arg.replace("ROOT", root)), url(peer, path)]),
          ),
        );
        assert.match(outcome.result.head[0]!, /^HTTP\/2 \d{3}$/);
        assert.match(outcome.log[0]!, /\|HTTP\/2\.0\|h2c?\|/);
      });
    }

    test("Node's client: bodies with and without content-length, cookies as an array, :authority", async () => {
      const requests: ReadonlyArray<readonly [Record<string, string | string[]>, (string | Buffer)?]> = [
        [{ ":path": "/p11/node", ":method": "POST", "content-length": "5" }, "abcde"],
        [{ ":path": "/p11u/node", ":method": "POST" }, "no length here"],
        [{ ":path": "/p10/node", ":method": "PUT" }, "put body"],
        [{ ":path": "/vars", cookie: ["c=3", "d=4", "e=5"] }],
        [{ ":path": "/vars", ":authority": "auth.test" }],
        // nginx answers these before the body has come, then resets the stream with NO_ERROR (which curl
        // 7.88 reports as an error): Node's client takes the answer.
        [{ ":path": "/ret", ":method": "POST", "content-length": "3" }, "x=1"],
        [{ ":path": "/small", ":method": "POST", "content-length": "10" }, "0123456789"],
        [{ ":path": "/small", ":method": "POST" }, "0123456789"],
        [{ ":path": "/p11/", ":method": "POST", "content-length": "2000000" }, Buffer.alloc(2_000_000)],
      ];
      for (const [headers, body] of requests) {
        await same(peers, upstream, async (peer) => {
          const session = await h2Session(url(peer, ""), nodeOptions);
          try {
            const response = await h2Request(session, headers, body);
            return { status: response.status, headers: stable(response.headers), body: response.body.toString() };
          } finally {
            session.close();
          }
        });
      }
    });

    test("40 streams at once on one connection", async () => {
      const outcome = await same(
        peers,
        upstream,
        async (peer) => {
          const session = await h2Session(url(peer, ""), nodeOptions);
          try {
            const paths = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `/p11/s${i}` : `/ret?s=${i}`));
            const responses = await Promise.all(paths.map((path) => h2Request(session, { ":path": path })));
            return responses.map((r, i) => `${paths[i]} ${r.status} ${r.body.toString()}`);
          } finally {
            session.close();
          }
        },
        40,
        true,
      );
      assert.equal(outcome.upstream.length, 20);
    });

    test("a slow reader on one stream does not hold back another", async () => {
      await same(
        peers,
        upstream,
        async (peer) => {
          const session = await h2Session(url(peer, ""), nodeOptions);
          try {
            const slow = session.request({ ":path": "/big.bin" });
            slow.on("error", () => undefined);
            slow.pause();
            // Listening already (the stream stays paused): its HEADERS may come before the other stream's answer.
            const slowResponse = readResponse(slow, 10_000);
            const fast = await h2Request(session, { ":path": "/ret" }, undefined, 3000);
            slow.resume();
            const whole = await slowResponse;
            return { fast: `${fast.status} ${fast.body.toString()}`, slow: `${whole.status} ${digest(whole.body)}` };
          } finally {
            session.close();
          }
        },
        2,
      );
    });
  });
}

/** The response headers of Node's client, minus the volatile ones. */
function stable(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !VOLATILE.test(`${name}:`)));
}

suite("HTTP/2 with prior knowledge (h2c) against nginx", "http2", "http", ["--http2-prior-knowledge"]);
suite("HTTP/2 over TLS (h2 by ALPN) against nginx", "ssl http2", "https", ["--http2", "-k"]);
