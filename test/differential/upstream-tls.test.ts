/**
 * proxy_pass https:// against nginx: the same configuration under Debian's
 * nginx and wsgate in front of the same https backends (test-pki.ts), and
 * the same requests: statuses, what the backend saw of the TLS side (SNI,
 * client certificate, resumed session, kept connection), a WebSocket echo
 * through an https upstream, and the error-log lines of failed handshakes and
 * verifications (ngx_http_upstream_ssl_handshake), compared whole.
 */

import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { comparableErrors, peersWith, skipWithoutNginx } from "./peers.js";
import { opensslSkip } from "../tls/certs.js";
import { startHttpsBackend, type HttpsBackend } from "../support/https-backend.js";
import { exchange, hasWholeResponse, openWs } from "../support/sockets.js";
import { makePki, type TestPki } from "../support/test-pki.js";
import { eventWithin } from "../support/wait.js";

const skip = skipWithoutNginx() || opensslSkip();

let pki: TestPki;
const backends: Record<string, HttpsBackend> = {};
let plain: Server;
let deaf: Server;
let closer: Server;
const held = new Set<Socket>();

function verifying(name = "backend.test"): string {
  return `proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.ca.crt}; proxy_ssl_name ${name};`;
}

async function setUp(): Promise<string> {
  pki = makePki();
  for (const [name, pair] of Object.entries({
    good: pki.good,
    sni: pki.good,
    client: pki.good,
    clientVar: pki.good,
    reuse: pki.good,
    keep: pki.good,
    wrong: pki.wrongName,
    expired: pki.expired,
    self: pki.selfSigned,
    deep: pki.deepChain,
  })) {
    backends[name] = await startHttpsBackend(pair, pki.ca.crt);
  }
  // A backend that speaks plain HTTP: the handshake fails ("wrong version number").
  plain = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", () => socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
  });
  await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
  const plainPort = (plain.address() as { port: number }).port;
  // One that accepts and says nothing (the handshake times out), one that closes at once.
  deaf = createServer((socket) => {
    held.add(socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => held.delete(socket));
  });
  closer = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", () => socket.end());
  });
  await new Promise<void>((resolve) => deaf.listen(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => closer.listen(0, "127.0.0.1", resolve));
  const deafPort = (deaf.address() as { port: number }).port;
  const closerPort = (closer.address() as { port: number }).port;
  const at = (name: string): string => `127.0.0.1:${backends[name]!.port}`;
  // nginx 1.28's default protocols (Debian's 1.22 leaves TLSv1.3 out of proxy_ssl_protocols).
  return `
  proxy_ssl_protocols TLSv1.2 TLSv1.3;
  upstream kept { server ${at("keep")}; keepalive 4; }
  upstream failover { server ${at("wrong")}; server ${at("good")}; }
  server {
    listen 127.0.0.1:PORT;
    location /plain/ { proxy_pass https://${at("good")}; }
    location /sni/ { proxy_pass https://${at("sni")}; proxy_ssl_server_name on; proxy_ssl_name backend.test; }
    location /sni-ip/ { proxy_pass https://${at("good")}; proxy_ssl_server_name on; }
    location /sni-resumed/ { proxy_pass https://${at("sni")}; }
    location /verify-good/ { proxy_pass https://${at("good")}; ${verifying()} }
    location /verify-ip/ { proxy_pass https://${at("good")}; ${verifying("$proxy_host")} }
    location /verify-wrong/ { proxy_pass https://${at("wrong")}; ${verifying()} }
    location /verify-expired/ { proxy_pass https://${at("expired")}; ${verifying()} }
    location /verify-self/ { proxy_pass https://${at("self")}; ${verifying()} }
    location /verify-deep/ { proxy_pass https://${at("deep")}; ${verifying()} }
    location /verify-deep3/ { proxy_pass https://${at("deep")}; ${verifying()} proxy_ssl_verify_depth 3; }
    location /failover/ { proxy_pass https://failover; ${verifying()} }
    location /client/ {
      proxy_pass https://${at("client")};
      proxy_ssl_certificate ${pki.client.crt}; proxy_ssl_certificate_key ${pki.client.key};
    }
    location /client-var/ {
      proxy_pass https://${at("clientVar")};
      proxy_ssl_certificate ${pki.dir}/$arg_c.crt; proxy_ssl_certificate_key ${pki.dir}/$arg_c.key;
    }
    location /reuse/ { proxy_pass https://${at("reuse")}; }
    location /noreuse/ { proxy_pass https://${at("reuse")}; proxy_ssl_session_reuse off; }
    location /kept/ { proxy_pass https://kept; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /variable/ { proxy_pass https://127.0.0.1:$arg_port; }
    location /plain-backend/ { proxy_pass https://127.0.0.1:${plainPort}; }
    location /deaf/ { proxy_pass https://127.0.0.1:${deafPort}; proxy_connect_timeout 1s; }
    location /closer/ { proxy_pass https://127.0.0.1:${closerPort}; }
    location /ws/ {
      proxy_pass https://${at("good")};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }`;
}

async function tearDown(): Promise<void> {
  for (const backend of Object.values(backends)) await backend.close();
  for (const socket of held) socket.destroy();
  for (const server of [plain, deaf, closer]) await new Promise<void>((resolve) => server.close(() => resolve()));
  pki.remove();
}

/** Status line and body of one request (Host: h, so log lines name the same host under both). */
async function ask(port: number, path: string): Promise<string> {
  const reply = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, hasWholeResponse);
  const text = reply.toString("latin1");
  const status = text.slice(0, text.indexOf("\r\n"));
  const body = text.slice(text.indexOf("\r\n\r\n") + 4);
  return body.startsWith("{") ? `${status} ${body.trim()}` : status;
}

describe("differential: proxy_pass https://", { skip }, () => {
  const peers = peersWith(setUp, tearDown);
  let seen: Record<string, string[]>;

  before(async () => {
    seen = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const port = peers[name]!.port;
      const lines: string[] = [];
      for (const path of [
        "/plain/",
        "/sni/",
        "/sni-ip/",
        "/sni-resumed/",
        "/verify-good/",
        "/verify-ip/",
        "/verify-wrong/",
        "/verify-expired/",
        "/verify-self/",
        "/verify-deep/",
        "/verify-deep3/",
        "/failover/",
        "/client/",
        "/client-var/?c=client",
        "/client-var/?c=absent",
        "/noreuse/",
        "/noreuse/",
        `/variable/?port=${backends.good!.port}`,
        "/plain-backend/",
        "/deaf/",
        "/closer/",
      ]) {
        lines.push(`${path} ${await ask(port, path)}`);
      }
      seen[name] = lines;
    }
  });

  test("statuses and what the backend saw of TLS are nginx's", () => {
    assert.deepEqual(seen.wsgate, seen.nginx);
    // The comparison is not empty-handed: failures give 502, successes the backend's facts (a first
    // handshake to a peer sends SNI and the client certificate; a resumed one has the session's).
    assert.match(
      seen.nginx!.find((line) => line.startsWith("/verify-expired/"))!,
      / 502 /,
    );
    assert.match(
      seen.nginx!.find((line) => line.startsWith("/sni/"))!,
      /"sni":"backend.test"/,
    );
    assert.match(
      seen.nginx!.find((line) => line.startsWith("/client/"))!,
      /"clientCn":"wsgate-client"/,
    );
    assert.match(
      seen.nginx!.find((line) => line.startsWith("/client-var/?c=client"))!,
      /"clientCn":"wsgate-client"/,
    );
    // A resumed connection sends the SNI of its own location (none here), not the session's.
    assert.match(
      seen.nginx!.find((line) => line.startsWith("/sni-resumed/"))!,
      /"sni":false,"clientCn":"","resumed":true/,
    );
  });

  test("the error-log lines of failed handshakes and verifications are nginx's", () => {
    const errors = (name: "nginx" | "wsgate"): string[] =>
      comparableErrors(peers[name]!.errorLog()).filter((line) => /SSL|certificate|handshak/.test(line));
    const nginx = errors("nginx").join("\n");
    assert.match(nginx, /upstream timed out \(110: Connection timed out\) while SSL handshaking to upstream/);
    assert.match(nginx, /peer closed connection in SSL handshake/);
    assert.match(nginx, /SSL_do_handshake\(\) failed/);
    assert.deepEqual(errors("wsgate"), errors("nginx"));
  });

  test("a session is resumed on the next connection to the same peer unless proxy_ssl_session_reuse is off", async () => {
    const resumed: Record<string, boolean[]> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const port = peers[name]!.port;
      const facts: boolean[] = [];
      for (let i = 0; i < 2; i++) facts.push((await ask(port, "/reuse/")).includes('"resumed":true'));
      resumed[name] = facts;
    }
    assert.deepEqual(resumed.nginx, [false, true]);
    assert.deepEqual(resumed.wsgate, resumed.nginx);
  });

  test("upstream keepalive keeps the TLS connection", async () => {
    const kept: Record<string, boolean> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const ports = backends.keep!.clientPorts;
      const before = ports.length;
      await ask(peers[name]!.port, "/kept/");
      await ask(peers[name]!.port, "/kept/");
      kept[name] = ports.length === before + 2 && ports[before] === ports[before + 1];
    }
    assert.deepEqual(kept, { nginx: true, wsgate: true });
  });

  test("a WebSocket through an https upstream echoes over the TLS connection", async () => {
    for (const name of ["nginx", "wsgate"] as const) {
      const ws = await openWs(`ws://127.0.0.1:${peers[name]!.port}/ws/`);
      const reply = eventWithin<[Buffer]>(ws, "message", 3000);
      ws.send("over tls");
      const [data] = await reply;
      assert.equal(String(data), "over tls", name);
      ws.close();
    }
  });
});
