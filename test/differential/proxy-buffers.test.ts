/**
 * The proxy buffer family against nginx: proxy_buffer_size bounds the
 * upstream's response head (one byte over is "upstream sent too big header",
 * 502; a head of exactly the size passes), at its default (one page) and as
 * set per location; the -t refusals of ngx_http_proxy_merge_loc_conf()'s
 * cross-checks and of the directives' slots; proxy_ignore_client_abort (the
 * backend's request is cut when the client goes, or runs to its end).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import {
  comparableErrors,
  comparableLog,
  listenTracked,
  peersWith,
  skipWithoutNginx,
  startPeer,
  startScriptedBackend,
  type ScriptedBackend,
} from "./peers.js";
import { exchange, linesEventually } from "../support/sockets.js";
import { until } from "../support/wait.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { runCli } from "../cli/run-cli.js";
import { expectNginxVerdicts } from "../support/test-both.js";

const skip = skipWithoutNginx();

/** A response whose head (blank line included) is exactly `size` bytes, then a body of 2. */
function headOf(size: number): string {
  const make = (fill: number): string => `HTTP/1.1 200 OK\r\nX-Fill: ${"a".repeat(fill)}\r\nContent-Length: 2\r\n\r\n`;
  return make(size - make(0).length) + "ok";
}

const SCRIPTS: Readonly<Record<string, string>> = {
  "/page/fits": headOf(4096),
  "/page/over": headOf(4097),
  "/set/fits": headOf(8192),
  "/set/over": headOf(8193),
  "/small/fits": headOf(1024),
  "/small/over": headOf(1025),
};

function statusLine(reply: Buffer): string {
  return reply.toString("latin1").split("\r\n")[0] ?? "";
}

describe("differential: proxy_buffer_size bounds the upstream's response head", { skip }, () => {
  let backend: ScriptedBackend | undefined;
  const peers = peersWith(
    async () => {
      backend = await startScriptedBackend(SCRIPTS);
      const pass = `proxy_pass http://127.0.0.1:${backend.port};`;
      // proxy_buffering off: nginx's streaming mode, the one wsgate has. (Buffering, nginx 1.22 loses the body
      // of a response whose head fills the buffer exactly when the upstream closes with it: "upstream
      // prematurely closed connection while reading upstream" — a quirk of its pipe that wsgate does not copy.)
      return `server { listen PORT; proxy_buffering off;
        location /page/ { ${pass} }
        location /set/ { proxy_buffer_size 8k; proxy_busy_buffers_size 8k; ${pass} }
        location /small/ { proxy_buffer_size 1k; ${pass} }
      }`;
    },
    async () => await backend?.close(),
  );

  for (const path of Object.keys(SCRIPTS)) {
    test(path, async () => {
      const request = `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
      const [nginx, wsgate] = await Promise.all([
        exchange(peers.nginx!.port, request),
        exchange(peers.wsgate!.port, request),
      ]);
      assert.equal(statusLine(nginx), path.endsWith("/over") ? "HTTP/1.1 502 Bad Gateway" : "HTTP/1.1 200 OK");
      assert.equal(statusLine(wsgate), statusLine(nginx));
      assert.equal(wsgate.toString("latin1").endsWith("\r\n\r\nok"), nginx.toString("latin1").endsWith("\r\n\r\nok"));
    });
  }

  test("the error-log and access-log lines match", async () => {
    const count = comparableLog(peers.nginx!.accessLog()).length;
    assert.equal(count, Object.keys(SCRIPTS).length);
    await linesEventually(() => peers.wsgate!.accessLog(), count);
    assert.deepEqual(comparableLog(peers.wsgate!.accessLog()), comparableLog(peers.nginx!.accessLog()));
    const errors = comparableErrors(peers.nginx!.errorLog());
    assert.equal(errors.filter((line) => line.includes("upstream sent too big header while reading")).length, 3);
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), errors);
  });
});

describe("differential: a head too big is an invalid header for proxy_next_upstream", { skip }, () => {
  const backends: ScriptedBackend[] = [];
  const peers = peersWith(
    async () => {
      backends.push(await startScriptedBackend({ "/h": headOf(1025) }));
      backends.push(await startScriptedBackend({ "/h": headOf(1024) }));
      const [first, second] = backends.map((backend) => `server 127.0.0.1:${backend.port};`);
      return `upstream u { ${first} ${second} }
        server { listen PORT; proxy_buffering off; proxy_buffer_size 1k;
          location /next { proxy_next_upstream error timeout invalid_header; proxy_pass http://u/h; }
        }`;
    },
    async () => {
      for (const backend of backends) await backend.close();
    },
  );

  test("the first server's head is too big: the second answers", async () => {
    const request = "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const [nginx, wsgate] = await Promise.all([
      exchange(peers.nginx!.port, request),
      exchange(peers.wsgate!.port, request),
    ]);
    assert.equal(statusLine(nginx), "HTTP/1.1 200 OK");
    assert.equal(statusLine(wsgate), statusLine(nginx));
    await linesEventually(() => peers.wsgate!.accessLog(), 1);
    const errors = comparableErrors(peers.nginx!.errorLog());
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /upstream sent too big header while reading response header from upstream/);
    assert.deepEqual(comparableErrors(peers.wsgate!.errorLog()), errors);
  });
});

describe("the proxy buffer directives at -t", () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("proxy-buffers");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  const ONE_OF = `the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"`;
  const LESS = `"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer in FILE:END`;
  // The merge checks are reported at the http block's closing "}" (END); the hash checks name no place.
  const cases: Array<[string, string | undefined]> = [
    [
      "proxy_buffer_size 16k; proxy_buffers 4 16k; proxy_busy_buffers_size 32k; proxy_temp_path t 1 2;\n" +
        "proxy_max_temp_file_size 0; proxy_temp_file_write_size 32k; proxy_ignore_client_abort on;\n" +
        "proxy_ignore_headers X-Accel-Redirect Vary; proxy_ignore_headers Set-Cookie;\n" +
        "proxy_headers_hash_max_size 1024; proxy_headers_hash_bucket_size 128;",
      undefined,
    ],
    // Without a server, nothing is merged and nothing checked.
    ["proxy_buffers 1 4k;", undefined],
    ["proxy_buffers 1 4k; SERVER", `there must be at least 2 "proxy_buffers" in FILE:END`],
    [
      "SERVER server { listen 127.0.0.1:2; location / { proxy_buffers 1 4k; } }",
      `there must be at least 2 "proxy_buffers" in FILE:END`,
    ],
    [
      "proxy_busy_buffers_size 2k; SERVER",
      `"proxy_busy_buffers_size" must be equal to or greater than ${ONE_OF} in FILE:END`,
    ],
    ["proxy_busy_buffers_size 28k; SERVER", undefined],
    ["proxy_busy_buffers_size 29k; SERVER", LESS],
    ["proxy_buffer_size 16k; SERVER", LESS],
    ["proxy_buffers 2 4k; SERVER", LESS],
    ["proxy_buffers 2 4k; proxy_busy_buffers_size 4k; SERVER", undefined],
    [
      "proxy_temp_file_write_size 1k; SERVER",
      `"proxy_temp_file_write_size" must be equal to or greater than ${ONE_OF} in FILE:END`,
    ],
    [
      "proxy_max_temp_file_size 1k; SERVER",
      `"proxy_max_temp_file_size" must be equal to zero to disable temporary files usage or must be equal to or greater than ${ONE_OF} in FILE:END`,
    ],
    ["proxy_max_temp_file_size 0; SERVER", undefined],
    ["proxy_buffers 0 4k;", `"proxy_buffers" directive invalid value in FILE:3`],
    ["proxy_buffers 2 0;", `"proxy_buffers" directive invalid value in FILE:3`],
    ["proxy_buffers +8 4k;", `"proxy_buffers" directive invalid value in FILE:3`],
    ["proxy_buffers 8 1g;", `"proxy_buffers" directive invalid value in FILE:3`],
    ["proxy_buffers 4k;", `invalid number of arguments in "proxy_buffers" directive in FILE:3`],
    ["proxy_buffers 8 4k; proxy_buffers 8 4k;", `"proxy_buffers" directive is duplicate in FILE:3`],
    ["proxy_buffer_size 4k; proxy_buffer_size x;", `"proxy_buffer_size" directive is duplicate in FILE:3`],
    ["proxy_buffer_size 9223372036854775808;", `"proxy_buffer_size" directive invalid value in FILE:3`],
    ["proxy_temp_path t 11;", `"proxy_temp_path" directive invalid value in FILE:3`],
    ["proxy_temp_path t 5 6;", `"proxy_temp_path" directive invalid value in FILE:3`],
    ["proxy_temp_path t 1 2 3 4;", `invalid number of arguments in "proxy_temp_path" directive in FILE:3`],
    ["proxy_ignore_headers Foo;", `invalid value "Foo" in FILE:3`],
    [
      "proxy_ignore_client_abort maybe;",
      `invalid value "maybe" in "proxy_ignore_client_abort" directive, it must be "on" or "off" in FILE:3`,
    ],
    ["proxy_headers_hash_max_size x;", `"proxy_headers_hash_max_size" directive invalid number in FILE:3`],
    [
      "proxy_headers_hash_max_size 0; SERVER",
      "could not build proxy_headers_hash, you should increase proxy_headers_hash_max_size: 0",
    ],
    // A location that writes no hide/set lines of its own takes its server's hashes as they are.
    ["SERVER server { listen 127.0.0.1:2; location / { proxy_headers_hash_max_size 0; } }", undefined],
    [
      "SERVER server { listen 127.0.0.1:2; location / { proxy_headers_hash_max_size 0; proxy_hide_header X; } }",
      "could not build proxy_headers_hash, you should increase proxy_headers_hash_max_size: 0",
    ],
    [
      "proxy_headers_hash_bucket_size 70000; SERVER",
      "could not build proxy_headers_hash, too large proxy_headers_hash_bucket_size: 70016",
    ],
    [
      `proxy_hide_header ${"a".repeat(67)}; SERVER`,
      "could not build proxy_headers_hash, you should increase proxy_headers_hash_bucket_size: 64",
    ],
  ];

  test("nginx's refusals, and what it accepts", async () => {
    const lines = (http: string): string[] => http.replace("SERVER", "server { listen 127.0.0.1:1; }").split("\n");
    await expectNginxVerdicts(
      prefix,
      cases,
      (http) => `events {}\nhttp {\n${lines(http).join("\n")}\n}\n`,
      (expected, file, http) => expected.replace("FILE", file).replace("END", String(3 + lines(http).length)),
    );
  });

  test("a value named twice in proxy_ignore_headers is a warning, as nginx's", async () => {
    const file = join(prefix, "warn.conf");
    writeTree(prefix, { "warn.conf": "events {}\nhttp {\nproxy_ignore_headers Vary vary;\n}\n" });
    const run = await runCli(["-t", "-p", prefix, "-c", file]);
    assert.equal(run.code, 0);
    assert.match(run.stderr, new RegExp(`\\[warn\\] duplicate value "vary" in ${file}:3`));
  });
});

/**
 * A backend that answers after `delayMs` (or, `fails`, closes without a word) and records whether its
 * connection was cut first.
 */
async function slowBackend(delayMs: number, fails: boolean): Promise<{ backend: ScriptedBackend; seen: string[] }> {
  const seen: string[] = [];
  const backend = await listenTracked((socket: Socket) => {
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      let answered = false;
      const timer = setTimeout(() => {
        answered = true;
        seen.push("answered");
        if (fails) socket.destroy();
        else socket.end("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlate\n");
      }, delayMs);
      socket.on("close", () => {
        clearTimeout(timer);
        if (!answered) seen.push("cut");
      });
    });
  });
  return { backend, seen };
}

describe("differential: proxy_ignore_client_abort", { skip }, () => {
  const cases = [
    ["off", false],
    ["on", false],
    ["on", true],
  ] as const;
  for (const [setting, fails] of cases) {
    test(`${setting}: what the backend sees when the client goes first${fails ? ", the upstream failing" : ""}`, async () => {
      const results: Record<string, { seen: string[]; log: string[]; errors: string[] }> = {};
      for (const name of ["nginx", "wsgate"] as const) {
        const { backend, seen } = await slowBackend(300, fails);
        const peer = await startPeer(
          name,
          `server { listen PORT; location / { proxy_ignore_client_abort ${setting};
             proxy_pass http://127.0.0.1:${backend.port}; } }`,
        );
        try {
          const client = connect(peer.port, "127.0.0.1");
          client.on("error", () => undefined);
          client.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
          await new Promise((done) => setTimeout(done, 100));
          client.destroy();
          await until(() => seen.length > 0, 3000, "the backend's end of the request");
          await linesEventually(() => peer.accessLog(), 1);
          // The status only: nginx counts in $body_bytes_sent what the kernel took for the closed socket; wsgate sends nothing.
          const log = comparableLog(peer.accessLog()).map((line) => line.split(`"`)[2]!.trim().split(" ")[0]!);
          results[name] = {
            seen: [...seen],
            log,
            errors: comparableErrors(peer.errorLog()).map((line) => line.replaceAll(String(backend.port), "BACKEND")),
          };
        } finally {
          await peer.stop();
          await backend.close();
        }
      }
      assert.deepEqual(results.nginx!.seen, [setting === "on" ? "answered" : "cut"]);
      assert.deepEqual(results.wsgate!.seen, results.nginx!.seen);
      assert.deepEqual(results.nginx!.log, [setting === "off" ? "499" : fails ? "502" : "200"]);
      assert.deepEqual(results.wsgate!.log, results.nginx!.log);
      assert.deepEqual(results.wsgate!.errors, results.nginx!.errors);
    });
  }
});
