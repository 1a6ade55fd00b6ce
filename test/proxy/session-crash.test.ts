/**
 * A throw inside the proxy's own callbacks ends only its request: wsgate runs
 * in this process, and a fault is injected where the session reads a service
 * from inside its upstream 'data' listener (the flow's keepsResponseHeaders,
 * read when the response head arrives). The client connection closes, an
 * [alert] names the connection, the peer is released (least_conn with
 * max_conns=1 would otherwise refuse the next request: "no live upstreams"),
 * and the next request is served.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { HttpServer } from "../../src/http/server.js";
import { openServing, type Serving } from "../../src/process/serving.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { freePort } from "../support/proxy.js";
import { until } from "../support/wait.js";

/** Answers every request 200 "ok" and closes. */
async function startBackend(): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no port");
  return { port: address.port, server };
}

describe("a throw in the proxy session", () => {
  let prefix: string;
  let backend: { port: number; server: Server };
  let serving: Serving;
  let server: HttpServer;
  let port: number;
  /** The next read of keepsResponseHeaders throws. */
  let armed = false;

  before(async () => {
    prefix = makeTempDir("session-crash");
    backend = await startBackend();
    port = await freePort();
    writeTree(prefix, {
      "conf/nginx.conf": `
        error_log logs/error.log info;
        events {}
        http {
          access_log logs/access.log;
          upstream app { least_conn; server 127.0.0.1:${backend.port} max_conns=1; }
          server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }
        }`,
      "logs/.keep": "",
    });
    serving = openServing(await loadConfig({ prefix, confFile: join(prefix, "conf/nginx.conf") }));
    server = serving.server!;
    const flow = server.flow;
    const keeps = flow.keepsResponseHeaders;
    Object.defineProperty(flow, "keepsResponseHeaders", {
      get: () => {
        if (!armed) return keeps;
        armed = false;
        throw new TypeError("injected fault");
      },
    });
    await server.listen();
  });

  after(async () => {
    await server.stopListening();
    serving.files.closeAll();
    await new Promise<void>((done) => backend.server.close(() => done()));
    removeTempDir(prefix);
  });

  const log = (name: string): string => readFileSync(join(prefix, "logs", name), "latin1");

  test("closes that connection, logs an alert, releases the peer, and serving goes on", async () => {
    armed = true;
    const reply = await exchange(port, "GET /boom HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(reply.length, 0, "the connection closes without a response");
    assert.equal(armed, false, "the fault fired");
    const alert = log("error.log")
      .split("\n")
      .find((line) => line.includes("[alert]"));
    assert.match(
      alert ?? "",
      /\[alert\] \d+#\d+: \*\d+ uncaught exception: TypeError: injected fault \(at .*\), client: 127\.0\.0\.1, server: , request: "GET \/boom HTTP\/1\.1"/,
    );
    const peer = server.flow.upstreams.get("app")!.peers[0]!;
    await until(() => peer.active === 0, 2000, "the peer's connection count back to 0");
    await until(() => log("access.log").includes("GET /boom"), 2000, "the request's access-log line");
    const next = (await exchange(port, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n", hasWholeResponse)).toString("latin1");
    assert.match(next, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(next.endsWith("\r\n\r\nok"));
    assert.equal(peer.active, 0);
  });
});
