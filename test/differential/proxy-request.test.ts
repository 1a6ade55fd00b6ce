/**
 * The request nginx sends upstream, changed by proxy_method, proxy_set_body
 * and client_body_in_file_only, and limit_except's verdicts: the same
 * requests to nginx and wsgate, what the backend received and what the
 * client got compared whole.
 */

import { existsSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { listenTracked, skipWithoutNginx, startPeer, type Peer, type ScriptedBackend } from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { expectNginxVerdicts } from "../support/test-both.js";

const skip = skipWithoutNginx();

interface Received {
  /** The request line and headers, Host/X-File masked where they name the peer. */
  readonly head: string;
  readonly body: string;
  /** The file X-File named, when the request arrived: its content, or null when it did not exist. */
  readonly file?: string | null;
}

/** A backend that records each whole request (head and Content-Length body) and answers 200 with a cookie. */
async function startBodyBackend(): Promise<ScriptedBackend & { readonly received: Received[] }> {
  const received: Received[] = [];
  const server = await listenTracked((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buffered.toString("latin1", 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      const body = buffered.toString("latin1", end + 4, end + 4 + length);
      const fileName = /\r\nx-file: *([^\r]*)/i.exec(head)?.[1];
      const file = fileName ? (existsSync(fileName) ? readFileSync(fileName, "latin1") : null) : undefined;
      received.push({
        head: head.replace(/\r\nx-file: *[^\r]*/i, "\r\nX-File: FILE"),
        body,
        ...(file !== undefined ? { file } : {}),
      });
      buffered = Buffer.alloc(0);
      const reply = "ok\n";
      // An answer to HEAD has the length of the body it leaves out.
      socket.end(
        `HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/\r\nContent-Length: ${reply.length}\r\nConnection: close\r\n\r\n` +
          (head.startsWith("HEAD ") ? "" : reply),
      );
    });
  });
  return { ...server, received };
}

const HTTP = (backend: number): string => `
  log_format files '$request_method $uri $status "$request_body_file"';
  server {
    listen PORT;
    location /method/ {
      proxy_method POST;
      proxy_pass http://127.0.0.1:${backend};
    }
    location /head/ {
      proxy_method HEAD;
      proxy_pass http://127.0.0.1:${backend};
    }
    location /method-var/ {
      proxy_method $http_x_method;
      proxy_pass http://127.0.0.1:${backend};
    }
    location /body/ {
      proxy_set_body "name=$arg_name&uri=$uri";
      proxy_pass http://127.0.0.1:${backend};
    }
    location /empty-body/ {
      proxy_set_body "";
      proxy_pass http://127.0.0.1:${backend};
    }
    location /kept/ {
      client_body_in_file_only on;
      client_body_temp_path kept;
      proxy_set_header X-File $request_body_file;
      access_log logs/files.log files;
      proxy_pass http://127.0.0.1:${backend};
    }
    location /clean/ {
      client_body_in_file_only clean;
      client_body_temp_path clean;
      proxy_set_header X-File $request_body_file;
      access_log logs/files.log files;
      proxy_pass http://127.0.0.1:${backend};
    }
    location /limited/ {
      limit_except GET { deny all; }
      proxy_pass http://127.0.0.1:${backend};
    }
    location /allowed/ {
      limit_except POST PUT { allow 127.0.0.1; deny all; }
      proxy_pass http://127.0.0.1:${backend};
    }
    location /no-script/ {
      return 200 "script\\n";
      limit_except GET { allow all; }
    }
  }`;

const req = (method: string, path: string, extra = "", body = ""): string =>
  `${method} ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${extra}` +
  (body !== "" ? `Content-Length: ${body.length}\r\n` : "") +
  `\r\n${body}`;

const REQUESTS = [
  req("GET", "/method/a?x=1"),
  req("HEAD", "/method/b"),
  req("GET", "/method-var/c", "X-Method: PATCH\r\n"),
  req("GET", "/head/c2"),
  req("HEAD", "/method-var/c3", "X-Method: GET\r\n"),
  req("POST", "/body/d?name=joe", "", "client-body"),
  req("GET", "/body/e"),
  req("PUT", "/empty-body/f", "", "dropped"),
  req("POST", "/kept/g", "", "kept-body"),
  req("POST", "/clean/h", "", "clean-body"),
  req("POST", "/kept/r", "Content-Length: 0\r\n"),
  req("GET", "/kept/s"),
  req("GET", "/limited/i"),
  req("HEAD", "/limited/j"),
  req("POST", "/limited/k", "", "x"),
  req("DELETE", "/limited/l"),
  req("FOO", "/limited/m"),
  req("GET", "/allowed/n"),
  req("POST", "/allowed/o", "", "y"),
  req("GET", "/no-script/p"),
  req("POST", "/no-script/q", "", "z"),
];

interface Seen {
  readonly replies: string[];
  readonly received: Received[];
  readonly files: string[];
  /** Whether the file the backend was told of still exists after the request, by location. */
  readonly kept: Record<string, boolean>;
}

/** The status line and body of a reply (headers differ by nature: Server, Date). */
function statusAndBody(reply: Buffer): string {
  const text = reply.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  const body = end === -1 ? "" : text.slice(end + 4).replace(/(nginx|wsgate)\/[\d.]+/, "SERVER");
  return `${text.slice(0, text.indexOf("\r\n"))}|${body.replace(/<[^>]*>|\s+/g, " ")}`;
}

describe("differential: proxy_method, proxy_set_body, client_body_in_file_only, limit_except", { skip }, () => {
  let backend: ScriptedBackend & { readonly received: Received[] };
  before(async () => {
    backend = await startBodyBackend();
  });
  after(async () => backend?.close());

  async function run(name: "nginx" | "wsgate"): Promise<Seen> {
    backend.received.length = 0;
    const peer: Peer = await startPeer(name, HTTP(backend.port));
    try {
      const replies: string[] = [];
      for (const request of REQUESTS) replies.push(statusAndBody(await exchange(peer.port, request)));
      await linesEventually(() => peer.readLog("files.log"), 2);
      const files = peer.readLog("files.log").split("\n").filter(Boolean);
      const kept: Record<string, boolean> = {};
      for (const line of files) {
        const path = /"([^"]*)"$/.exec(line)![1]!;
        kept[line.split(" ")[1]!] = path !== "" && existsSync(path);
      }
      return {
        replies,
        received: backend.received.map((r) => ({ ...r })),
        files: files.map((line) => line.replace(/"[^"]*\/(\d{10})"$/, '"TEMP/$1"')),
        kept,
      };
    } finally {
      await peer.stop();
    }
  }

  test("the backend receives the same requests and the client the same answers", async () => {
    const nginx = await run("nginx");
    const wsgate = await run("wsgate");
    // The test's own checks of nginx's behaviour, so that agreement means something.
    const at = (path: string): Received => nginx.received.find((r) => r.head.split(" ")[1] === path)!;
    assert.match(at("/method/a?x=1").head, /^POST \/method\/a\?x=1 HTTP\/1.0\r\n/);
    assert.match(at("/method-var/c").head, /^PATCH /);
    assert.match(at("/head/c2").head, /^HEAD /);
    assert.equal(at("/body/d?name=joe").body, "name=joe&uri=/body/d");
    // An empty body (Content-Length: 0) gets its file too; a request without a body none.
    assert.deepEqual(nginx.kept, { "/kept/g": true, "/clean/h": false, "/kept/r": true, "/kept/s": false });
    assert.equal(nginx.received.find((r) => r.head.startsWith("POST /kept/g"))?.file, "kept-body");
    const limitedPost = REQUESTS.findIndex((request) => request.startsWith("POST /limited/k"));
    assert.ok(nginx.replies[limitedPost]!.startsWith("HTTP/1.1 403"));
    assert.deepEqual(wsgate.replies, nginx.replies);
    assert.deepEqual(wsgate.received, nginx.received);
    assert.deepEqual(wsgate.files, nginx.files);
    assert.deepEqual(wsgate.kept, nginx.kept);
  });
});

describe("proxy_method and proxy_set_body: wsgate -t gives nginx -t's verdicts", () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("proxy-request-t");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("nginx's refusals, and what it accepts", async () => {
    await expectNginxVerdicts(prefix, [
      [
        'proxy_method $request_method; proxy_set_body "x=$arg_x";\n' +
          "server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; proxy_method POST; } }",
        undefined,
      ],
      ["proxy_method POST; proxy_method GET;", `"proxy_method" directive is duplicate in FILE:3`],
      ["proxy_method;", `invalid number of arguments in "proxy_method" directive in FILE:3`],
      ["proxy_method $nosuch;", `unknown "nosuch" variable`],
      ["proxy_set_body a; proxy_set_body b;", `"proxy_set_body" directive is duplicate in FILE:3`],
      ["proxy_set_body;", `invalid number of arguments in "proxy_set_body" directive in FILE:3`],
      [
        "server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; proxy_set_body $nosuch; } }",
        `unknown "nosuch" variable`,
      ],
      [
        "server { listen 127.0.0.1:1; location / { if ($arg_a) { proxy_method GET; } } }",
        `"proxy_method" directive is not allowed here in FILE:3`,
      ],
    ]);
  });
});
