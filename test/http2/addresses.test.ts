/**
 * How an HTTP/2 connection is chosen on an address: over TLS by ALPN, "h2"
 * offered only where the server the SNI name selects has `http2 on`
 * (ngx_http_ssl_alpn_select reads the configuration of the server the name
 * chose), or everywhere on an address with `listen … ssl http2`;
 * $ssl_alpn_protocol; `listen … proxy_protocol` before h2c and before TLS
 * with h2 ($proxy_protocol_addr). And stub_status with HTTP/2 connections
 * open: one connection counts once in "Active connections", its streams as
 * requests being written (as nginx counts: the streams' fake connections are
 * not counted as connections).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { connect as h2Connect, type ClientHttp2Session } from "node:http2";
import { freePorts, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { h2Request } from "../support/h2-client.js";
import { makeCerts, opensslSkip, type TestCerts } from "../tls/certs.js";
import { until, withTimeout } from "../support/wait.js";

const skip = opensslSkip();

/** Every client socket of the tests, destroyed at the end so that none keeps the runner alive. */
const opened: Socket[] = [];

const LOG = `log_format h2 '$server_name|$server_protocol|$http2|$ssl_alpn_protocol|$proxy_protocol_addr|$request';`;

/** A TLS connection offering h2 and http/1.1 to `name`; resolves once the handshake is done. */
async function tlsTo(port: number, name: string, socket?: Socket): Promise<TLSSocket> {
  const tls = tlsConnect({
    ...(socket ? { socket } : { host: "127.0.0.1", port }),
    servername: name,
    ALPNProtocols: ["h2", "http/1.1"],
    rejectUnauthorized: false,
  });
  tls.on("error", () => undefined);
  opened.push(tls);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      tls.once("secureConnect", resolve);
      tls.once("error", reject);
    }),
    5000,
    `a TLS handshake for ${name}`,
  );
  return tls;
}

/** An HTTP/2 session over a socket made already. */
async function sessionOver(socket: Socket, scheme: "http" | "https"): Promise<ClientHttp2Session> {
  const session = h2Connect(`${scheme}://localhost`, { createConnection: () => socket });
  session.on("error", () => undefined);
  await withTimeout(new Promise((resolve) => session.once("remoteSettings", resolve)), 5000, "the server's SETTINGS");
  return session;
}

async function tcpTo(port: number): Promise<Socket> {
  const socket = tcpConnect({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  opened.push(socket);
  await withTimeout(new Promise((resolve) => socket.once("connect", resolve)), 5000, "a TCP connection");
  return socket;
}

describe("HTTP/2 addresses: ALPN per server, listen … http2, proxy_protocol, stub_status", { skip }, () => {
  let certs: TestCerts;
  let wsgate: WsgateProcess;
  let perServer: number, wholeAddress: number, ppPlain: number, ppTls: number;

  before(async () => {
    certs = makeCerts();
    [perServer, wholeAddress, ppPlain, ppTls] = (await freePorts(4)) as [number, number, number, number];
    const files: Record<string, string> = {};
    for (const name of ["a.test.crt", "a.test.key", "b.test.crt", "b.test.key"]) {
      files[name] = readFileSync(join(certs.dir, name), "latin1");
    }
    const tls = (name: string): string => `ssl_certificate ${name}.crt; ssl_certificate_key ${name}.key;`;
    const body = `location / { return 200 "$server_name\\n"; } location = /status { stub_status; }`;
    wsgate = await startWsgate({
      files,
      conf: httpConf(`
        ${LOG}
        access_log logs/h2.log h2;
        server { listen 127.0.0.1:${perServer} ssl; server_name a.test; http2 on; ${tls("a.test")} ${body} }
        server { listen 127.0.0.1:${perServer} ssl; server_name b.test; ${tls("b.test")} ${body} }
        server { listen 127.0.0.1:${wholeAddress} ssl http2; server_name a.test; ${tls("a.test")} ${body} }
        server { listen 127.0.0.1:${wholeAddress} ssl; server_name b.test; ${tls("b.test")} ${body} }
        server { listen 127.0.0.1:${ppPlain} proxy_protocol; http2 on; server_name pp; ${body} }
        server { listen 127.0.0.1:${ppTls} ssl proxy_protocol; http2 on; server_name ppt; ${tls("a.test")} ${body} }
      `),
    });
  });

  after(async () => {
    for (const socket of opened) socket.destroy();
    await wsgate?.stop();
    certs?.remove();
  });

  test("ALPN per SNI: h2 for the server with http2 on, http/1.1 for the one without", async () => {
    const a = await tlsTo(perServer, "a.test");
    assert.equal(a.alpnProtocol, "h2");
    const session = await sessionOver(a, "https");
    const answer = await h2Request(session, { ":path": "/", ":authority": "a.test" });
    assert.equal(answer.body.toString(), "a.test\n");
    session.close();
    const b = await tlsTo(perServer, "b.test");
    assert.equal(b.alpnProtocol, "http/1.1");
    b.destroy();
    await until(() => wsgate.accessLog("h2.log").includes("a.test|HTTP/2.0|h2|h2|"), 3000, "the log line");
  });

  test("listen … ssl http2: every name of the address gets h2", async () => {
    for (const name of ["a.test", "b.test"]) {
      const socket = await tlsTo(wholeAddress, name);
      assert.equal(socket.alpnProtocol, "h2", name);
      const session = await sessionOver(socket, "https");
      const answer = await h2Request(session, { ":path": "/", ":authority": name });
      assert.equal(answer.body.toString(), `${name}\n`);
      session.close();
    }
  });

  test("listen … proxy_protocol: h2c and h2 over TLS after the header, $proxy_protocol_addr logged", async () => {
    const plain = await tcpTo(ppPlain);
    plain.write("PROXY TCP4 192.0.2.7 198.51.100.1 5100 80\r\n");
    const h2c = await sessionOver(plain, "http");
    assert.equal((await h2Request(h2c, { ":path": "/plain" })).body.toString(), "pp\n");
    h2c.close();
    const raw = await tcpTo(ppTls);
    raw.write("PROXY TCP4 192.0.2.8 198.51.100.1 5101 443\r\n");
    const tls = await tlsTo(ppTls, "a.test", raw);
    assert.equal(tls.alpnProtocol, "h2");
    const h2 = await sessionOver(tls, "https");
    assert.equal((await h2Request(h2, { ":path": "/tls" })).body.toString(), "ppt\n");
    h2.close();
    await until(() => wsgate.accessLog("h2.log").includes("GET /tls HTTP/2.0"), 3000, "the log lines");
    const log = wsgate.accessLog("h2.log");
    assert.match(log, /^pp\|HTTP\/2\.0\|h2c\|-\|192\.0\.2\.7\|GET \/plain HTTP\/2\.0$/m);
    assert.match(log, /^ppt\|HTTP\/2\.0\|h2\|h2\|192\.0\.2\.8\|GET \/tls HTTP\/2\.0$/m);
  });

  test("stub_status: an HTTP/2 connection is one active connection, its streams requests being written", async () => {
    const status = async (session: ClientHttp2Session): Promise<string> =>
      (await h2Request(session, { ":path": "/status", ":authority": "a.test" })).body.toString();
    const socket = await tlsTo(wholeAddress, "a.test");
    const session = await sessionOver(socket, "https");
    // Two more streams open (their answers read slowly) while the status is asked on a third.
    const held = [session.request({ ":path": "/" }), session.request({ ":path": "/" })];
    for (const stream of held) {
      stream.on("error", () => undefined);
      stream.pause();
    }
    const text = await status(session);
    const active = Number(/Active connections: (\d+)/.exec(text)?.[1]);
    assert.equal(active, 1, text);
    const [reading, writing, waiting] = (/Reading: (\d+) Writing: (\d+) Waiting: (\d+)/.exec(text) ?? [])
      .slice(1)
      .map(Number);
    assert.equal(reading, 0, text);
    assert.ok(writing! >= 1, text);
    assert.equal(waiting, 0, text);
    for (const stream of held) stream.close();
    session.close();
  });
});
