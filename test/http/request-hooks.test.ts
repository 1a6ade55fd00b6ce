/**
 * What the request flow lends each kind of request (src/http/request-hooks.ts):
 * a client's request reads the connection counters ($connections_writing
 * without itself once finished, as nginx logs it); a request refused before
 * a server was chosen has no counters ("-"), and its error-log line still
 * goes to the server's error log.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { freePort, httpConf, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";

let wsgate: WsgateProcess;
let port: number;

before(async () => {
  port = await freePort();
  wsgate = await startWsgate({
    conf: httpConf(`
    log_format counters '$status $connections_active $connections_writing';
    server {
        listen 127.0.0.1:${port};
        access_log logs/counters.log counters;
        location / { return 200 "ok\\n"; }
    }`),
  });
});

after(async () => {
  await wsgate?.stop();
});

/** Sends `raw` on a fresh connection and resolves with the status line once the server closes it. */
function exchange(raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("close", () => resolve(text.slice(0, text.indexOf("\r\n"))));
    socket.write(raw);
  });
}

describe("the request flow's hooks", () => {
  test("a request's counters, and none for a request refused before a server was chosen", async () => {
    assert.equal(await exchange("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), "HTTP/1.1 200 OK");
    assert.equal(await exchange("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    await waitFor(() => wsgate.accessLog("counters.log").trim().split("\n").length >= 2, 5000, "two log lines");
    const [ok, refused] = wsgate.accessLog("counters.log").trim().split("\n");
    // One connection open (this one), and it no longer writes once its request is finished.
    assert.equal(ok, "200 1 0");
    assert.equal(refused, "400 - -");
    assert.match(wsgate.errorLog(), /client sent invalid host header/);
  });
});
