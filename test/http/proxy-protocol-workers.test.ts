/**
 * `listen … proxy_protocol` with worker processes (the master hands each
 * connection to a worker before reading any of it, so the PROXY header
 * reaches the worker that serves the connection): a WebSocket upgrade after
 * a PROXY header echoes through, with realip taking the address from it;
 * $proxy_protocol_tlv_* (nginx 1.23.2+, so not in the differential suite):
 * known names, hex types, the SSL TLV's fields, and nginx's error lines for an
 * unknown name and a broken TLV list.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "node:net";
import { WebSocket } from "ws";
import { freePort, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { echoBackend, killAll, processConf, roundTrip, startedWorkers, type EchoBackend } from "../process/harness.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import { until } from "../support/wait.js";

function v2(body: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([Buffer.from("0d0a0d0a000d0a515549540a2111", "hex"), length, body]);
}

const ADDRESSES = Buffer.from([192, 0, 2, 1, 198, 51, 100, 7, 0x13, 0xec, 0x01, 0xbb]);
const SSL = Buffer.concat([Buffer.from([0x01, 0, 0, 0, 0]), Buffer.from([0x21, 0, 7]), Buffer.from("TLSv1.3")]);
const TLVS = Buffer.concat([
  Buffer.from([0x02, 0, 6]),
  Buffer.from("a.test"),
  Buffer.from([0x05, 0, 3]),
  Buffer.from("id7"),
  Buffer.from([0x20, 0, SSL.length]),
  SSL,
]);

describe("proxy_protocol with worker processes", () => {
  let backend: EchoBackend;
  let port: number;
  let wsgate: WsgateProcess;

  before(async () => {
    backend = await echoBackend("B");
    port = await freePort();
    const tlv = "$proxy_protocol_tlv_";
    const format = `'$remote_addr|$remote_port|$proxy_protocol_addr|${tlv}authority|${tlv}0x05|${tlv}ssl_verify|${tlv}ssl_version|${tlv}alpn|${tlv}foo|$request|$status'`;
    wsgate = await startWsgate({
      conf: processConf(
        "worker_processes 2;",
        `log_format pp ${format};
        server {
          listen 127.0.0.1:${port} proxy_protocol;
          access_log logs/pp.log pp;
          set_real_ip_from 127.0.0.1;
          real_ip_header proxy_protocol;
          location / {
            proxy_pass http://127.0.0.1:${backend.port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
          }
        }`,
      ),
    });
  });

  after(async () => {
    const workers = startedWorkers(wsgate?.errorLog() ?? "");
    await wsgate?.stop("SIGTERM");
    killAll(workers);
    await backend?.close();
  });

  test("a WebSocket upgrade after a PROXY header echoes through a worker", async () => {
    const header = Buffer.from("PROXY TCP4 203.0.113.5 198.51.100.7 4242 80\r\n");
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, {
      perMessageDeflate: false,
      // The PROXY header goes first on the connection, before the handshake.
      createConnection: () => {
        const socket = connect(port, "127.0.0.1");
        socket.write(header);
        return socket;
      },
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    assert.equal(await roundTrip(ws, "hello"), "B:hello");
    assert.equal(await roundTrip(ws, "again"), "B:again");
    ws.close();
    await until(() => wsgate.accessLog("pp.log").includes("GET /chat"), 5000, "the tunnel's log line");
    const line = wsgate
      .accessLog("pp.log")
      .split("\n")
      .find((text) => text.includes("GET /chat"));
    assert.equal(line, "203.0.113.5|4242|203.0.113.5|-|-|-|-|-|-|GET /chat HTTP/1.1|101");
  });

  test("$proxy_protocol_tlv_*: names, types, the SSL TLV; errors logged per request", async () => {
    const reply = await exchange(
      port,
      Buffer.concat([
        v2(Buffer.concat([ADDRESSES, TLVS])),
        Buffer.from("GET /tlv HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
      ]).toString("latin1"),
      hasWholeResponse,
    );
    assert.match(reply.toString("latin1"), /^HTTP\/1\.1 200/);
    await until(() => wsgate.accessLog("pp.log").includes("GET /tlv"), 5000, "the log line");
    const line = wsgate
      .accessLog("pp.log")
      .split("\n")
      .find((text) => text.includes("GET /tlv"));
    assert.equal(line, "192.0.2.1|5100|192.0.2.1|a.test|id7|0|TLSv1.3|-|-|GET /tlv HTTP/1.1|200");
    await until(() => wsgate.errorLog().includes("unknown PROXY protocol TLV"), 3000, "the error line");
    assert.match(wsgate.errorLog(), /\[error\] \d+#\d+: \*\d+ unknown PROXY protocol TLV "foo", client: 192\.0\.2\.1/);
  });

  test("a broken TLV list: the variables are not found, nginx's line is logged", async () => {
    const broken = Buffer.from([0x02, 0x00, 0x09, 0x61]);
    await exchange(
      port,
      Buffer.concat([
        v2(Buffer.concat([ADDRESSES, broken])),
        Buffer.from("GET /broken HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
      ]).toString("latin1"),
      hasWholeResponse,
    );
    await until(() => wsgate.accessLog("pp.log").includes("GET /broken"), 5000, "the log line");
    const line = wsgate
      .accessLog("pp.log")
      .split("\n")
      .find((text) => text.includes("GET /broken"));
    assert.equal(line, "192.0.2.1|5100|192.0.2.1|-|-|-|-|-|-|GET /broken HTTP/1.1|200");
    await until(() => wsgate.errorLog().includes("broken PROXY protocol TLV"), 3000, "the error line");
  });
});
