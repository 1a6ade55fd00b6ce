/**
 * limit_rate, limit_rate_after, $limit_rate, proxy_limit_rate and an
 * upstream's X-Accel-Limit-Rate, under nginx and wsgate side by side. The
 * timing is the feature here, so the tests measure it, in ranges wide
 * enough for a loaded machine: with nginx's formula a body of 300 KB at
 * 100 KB/s takes about 2 s (the first second's share leaves at once), and
 * both servers must land in the same range; an unlimited one takes well
 * under a second, so a limit that does nothing fails.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listenTracked, skipWithoutNginx, startScriptedBackend, type ScriptedBackend } from "../differential/peers.js";
import { delay } from "../support/wait.js";
import { errorLines, openTempDir, startStaticPeer, type StaticPeer } from "../static/harness.js";
import { parseChunked } from "../support/backend.js";

const skip = skipWithoutNginx();

const KB = 1024;
const BODY = Buffer.alloc(300 * KB, "r");
const LONG_BODY = Buffer.alloc(500 * KB, "l");
/** Bytes gzip cannot shrink: the compressed body is as long as the file, so limit_rate holds zlib's output back. */
const NOISE = randomBytes(300 * KB);

interface Timing {
  /** Seconds until `mark` bytes had arrived. */
  readonly atMark: number;
  /** Seconds until the server closed. */
  readonly total: number;
  readonly bytes: number;
  readonly reply: Buffer;
}

/** One request on a fresh connection, timed; the server closes (Connection: close). */
function timed(port: number, path: string, mark = 0, headers = ""): Promise<Timing> {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let bytes = 0;
    let atMark = -1;
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no end of ${path} within 10 s (${bytes} bytes)`));
    }, 10_000);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
      if (atMark < 0 && bytes >= mark) atMark = seconds();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      done({ atMark, total: seconds(), bytes, reply: Buffer.concat(chunks) });
    });
    socket.on("error", () => undefined);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n${headers}Connection: close\r\n\r\n`);
  });
}

function conf(docroot: string, backend: number): string {
  return `
  default_type application/octet-stream;
  log_format rate '$uri $limit_rate';
  server {
    listen 127.0.0.1:PORT;
    root ${docroot};
    access_log logs/rate.log rate;
    location /free/ { alias ${docroot}/; }
    location /limited/ { alias ${docroot}/; limit_rate 100k; }
    location /gz/ { alias ${docroot}/; limit_rate 100k; gzip on; gzip_types application/octet-stream; }
    location /proxy/gz-read {
      proxy_pass http://127.0.0.1:${backend}/noise; proxy_limit_rate 100k; limit_rate 100k;
      gzip on; gzip_types application/octet-stream;
    }
    location /after/ { alias ${docroot}/; limit_rate 100k; limit_rate_after 200k; }
    location /byvar/ { alias ${docroot}/; set $limit_rate 100k; }
    location /byarg/ { alias ${docroot}/; limit_rate $arg_rate; }
    location /badset/ { alias ${docroot}/; set $limit_rate $arg_v; }
    location /proxy/free { proxy_pass http://127.0.0.1:${backend}/body; }
    location /proxy/limited { proxy_pass http://127.0.0.1:${backend}/body; limit_rate 100k; }
    location /proxy/read { proxy_pass http://127.0.0.1:${backend}/body; proxy_limit_rate 100k; }
    location /proxy/unbuffered { proxy_pass http://127.0.0.1:${backend}/body; proxy_buffering off; proxy_limit_rate 100k; }
    location /proxy/accel { proxy_pass http://127.0.0.1:${backend}/accel; }
    location /proxy/accel-ignored { proxy_pass http://127.0.0.1:${backend}/accel; proxy_ignore_headers X-Accel-Limit-Rate; }
  }`;
}

describe("limit_rate: nginx's pace, under nginx and wsgate", { skip }, () => {
  let docroot: string;
  let backend: ScriptedBackend;
  let nginx: StaticPeer;
  let wsgate: StaticPeer;

  before(async () => {
    docroot = openTempDir("rate");
    writeFileSync(join(docroot, "body.bin"), BODY);
    writeFileSync(join(docroot, "long.bin"), LONG_BODY);
    writeFileSync(join(docroot, "noise.bin"), NOISE);
    const response = (extra: string): string =>
      `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n${extra}\r\n` + BODY.toString("latin1");
    backend = await startScriptedBackend({
      "/body": response(""),
      "/accel": response("X-Accel-Limit-Rate: 102400\r\n"),
      "/noise":
        `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${NOISE.length}\r\n\r\n` +
        NOISE.toString("latin1"),
    });
    [nginx, wsgate] = await Promise.all([
      startStaticPeer("nginx", conf(docroot, backend.port)),
      startStaticPeer("wsgate", conf(docroot, backend.port)),
    ]);
  });

  after(async () => {
    await Promise.all([nginx?.stop(), wsgate?.stop(), backend?.close()]);
    rmSync(docroot, { recursive: true, force: true });
  });

  /** The same request to both servers at once: their timings and replies. */
  async function both(path: string, mark = 0): Promise<{ nginx: Timing; wsgate: Timing }> {
    const [fromNginx, fromWsgate] = await Promise.all([timed(nginx.port, path, mark), timed(wsgate.port, path, mark)]);
    assert.ok(fromWsgate.bytes > BODY.length, `wsgate sent the whole body (${fromWsgate.bytes})`);
    assert.equal(fromWsgate.reply.subarray(-16).toString(), fromNginx.reply.subarray(-16).toString());
    return { nginx: fromNginx, wsgate: fromWsgate };
  }

  function inRange(label: string, seconds: number, low: number, high: number): void {
    assert.ok(seconds >= low && seconds <= high, `${label}: ${seconds.toFixed(2)} s, expected ${low}–${high} s`);
  }

  test("without a limit, a file leaves at once", async () => {
    const { nginx: n, wsgate: w } = await both("/free/body.bin");
    inRange("nginx", n.total, 0, 0.8);
    inRange("wsgate", w.total, 0, 0.8);
  });

  test("limit_rate 100k: 300 KB of a file in about 2 s", async () => {
    const { nginx: n, wsgate: w } = await both("/limited/body.bin");
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
  });

  test("limit_rate_after 200k: the first 200 KB at once, then the limit", async () => {
    const { nginx: n, wsgate: w } = await both("/after/long.bin", 200 * KB);
    inRange("nginx, first 200 KB", n.atMark, 0, 0.8);
    inRange("wsgate, first 200 KB", w.atMark, 0, 0.8);
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
  });

  test("set $limit_rate 100k limits as limit_rate does", async () => {
    const { nginx: n, wsgate: w } = await both("/byvar/body.bin");
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
  });

  test("limit_rate with a variable: $arg_rate", async () => {
    const { nginx: n, wsgate: w } = await both("/byarg/body.bin?rate=100k");
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
    const free = await both("/byarg/body.bin?rate=0");
    inRange("wsgate, rate=0", free.wsgate.total, 0, 0.8);
  });

  test("an invalid size: nginx's error line, and no limit", async () => {
    const { nginx: n, wsgate: w } = await both("/byarg/body.bin?rate=fast");
    inRange("wsgate", w.total, 0, 0.8);
    inRange("nginx", n.total, 0, 0.8);
    const set = await both("/badset/body.bin?v=12q");
    inRange("wsgate, set", set.wsgate.total, 0, 0.8);
    const lines = (peer: StaticPeer): string[] =>
      errorLines(peer.errorLog()).map((line) => line.replace(/, client: .*/, ""));
    assert.deepEqual(lines(wsgate), lines(nginx));
    assert.equal(lines(wsgate).length, 2, lines(wsgate).join("\n"));
  });

  test("$limit_rate in the access log is the rate in bytes", async () => {
    const lines = (peer: StaticPeer): string[] =>
      peer
        .readLog("rate.log")
        .split("\n")
        .filter((line) => line !== "");
    assert.deepEqual(lines(wsgate), lines(nginx));
    assert.ok(lines(wsgate).includes("/byvar/body.bin 102400"), lines(wsgate).join("\n"));
  });

  test("a proxied response: limit_rate paces the client", async () => {
    const free = await both("/proxy/free");
    inRange("wsgate, no limit", free.wsgate.total, 0, 0.8);
    const { nginx: n, wsgate: w } = await both("/proxy/limited");
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
  });

  test("proxy_limit_rate 100k paces reading the upstream", async () => {
    const { nginx: n, wsgate: w } = await both("/proxy/read");
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
  });

  test("proxy_limit_rate does not apply to an unbuffered response", async () => {
    const { nginx: n, wsgate: w } = await both("/proxy/unbuffered");
    inRange("nginx", n.total, 0, 0.8);
    inRange("wsgate", w.total, 0, 0.8);
  });

  test("a slow limit holds the upstream back: wsgate buffers no more than a piece", async () => {
    const total = 64 * 1024 * 1024;
    let accepted = 0;
    const flood = await listenTracked((socket) => {
      socket.once("data", () => {
        const chunk = Buffer.alloc(1024 * 1024, 0x66);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
        let sent = 0;
        const pump = (): void => {
          while (!socket.destroyed && sent < total) {
            sent += chunk.length;
            if (!socket.write(chunk)) break;
          }
          accepted = socket.bytesWritten - socket.writableLength;
          if (!socket.destroyed && sent < total) socket.once("drain", pump);
        };
        pump();
      });
    });
    const slow = await startStaticPeer(
      "wsgate",
      `server { listen 127.0.0.1:PORT; location / { proxy_pass http://127.0.0.1:${flood.port}; limit_rate 1k; } }`,
    );
    try {
      const client = connect(slow.port, "127.0.0.1");
      client.on("error", () => undefined);
      let received = 0;
      client.on("data", (chunk: Buffer) => (received += chunk.length));
      client.write("GET /flood HTTP/1.1\r\nHost: a\r\n\r\n");
      await delay(1500);
      client.destroy();
      assert.ok(received < 64 * KB, `the client got ${received} bytes at 1 KB/s`);
      // Loopback's socket buffers hold a few megabytes; without back-pressure the 64 MB would all be taken.
      assert.ok(accepted < 24 * 1024 * 1024, `the upstream got rid of ${accepted} bytes`);
    } finally {
      await slow.stop();
      await flood.close();
    }
  });

  test("an upstream's X-Accel-Limit-Rate limits its response", async () => {
    const { nginx: n, wsgate: w } = await both("/proxy/accel");
    inRange("nginx", n.total, 1.5, 4);
    inRange("wsgate", w.total, 1.5, 4);
  });

  /** A gzipped reply under the limit, on both servers: timed, and the body unzipped whole. */
  async function gzipped(path: string): Promise<void> {
    const [n, w] = await Promise.all([
      timed(nginx.port, path, 0, "Accept-Encoding: gzip\r\n"),
      timed(wsgate.port, path, 0, "Accept-Encoding: gzip\r\n"),
    ]);
    for (const [name, run] of [
      ["nginx", n],
      ["wsgate", w],
    ] as const) {
      const end = run.reply.indexOf("\r\n\r\n");
      const head = run.reply.subarray(0, end).toString("latin1");
      assert.match(head, /\r\nContent-Encoding: gzip(\r\n|$)/, `${name}: ${head}`);
      assert.ok(gunzipSync(dechunked(run.reply.subarray(end + 4))).equals(NOISE), `${name}: the whole file, unzipped`);
      inRange(name, run.total, 1.5, 4);
    }
  }

  test("gzip under limit_rate: zlib's output waits for the limit, and the file ends whole", async () => {
    await gzipped("/gz/noise.bin");
  });

  test("gzip under proxy_limit_rate and limit_rate: the upstream resumes after each pause", async () => {
    await gzipped("/proxy/gz-read");
  });

  test("proxy_ignore_headers X-Accel-Limit-Rate: the upstream's limit is not applied", async () => {
    const { nginx: n, wsgate: w } = await both("/proxy/accel-ignored");
    inRange("nginx", n.total, 0, 0.8);
    inRange("wsgate", w.total, 0, 0.8);
  });
});

/** The data of a chunked body (all of it must be there). */
function dechunked(data: Buffer): Buffer {
  const parsed = parseChunked(data, 0);
  assert.ok(parsed, "a whole chunked body");
  return parsed.body;
}
