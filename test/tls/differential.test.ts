/**
 * TLS against Debian's nginx, the same configuration under both: replies over
 * https (status, headers, body, the $ssl_ variables), the certificate SNI
 * picks, what the backend receives ($scheme, $https, X-Forwarded-For), a
 * wss:// echo through the tunnel, plain HTTP sent to the TLS port (and
 * error_page 497), redirects made absolute with https://, broken handshakes,
 * and the access-log and error-log lines all of this leaves.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  nginxRuns,
  startPeer,
  startRecordingBackend,
  type Peer,
  type RecordingBackend,
} from "../differential/peers.js";
import { makeCerts, opensslSkip, type TestCerts } from "./certs.js";
import { closeWs, openWss, rawExchange, roundTrip, startEchoBackend, tlsExchange } from "./clients.js";
import { until } from "../support/wait.js";

const skip = opensslSkip() || (nginxRuns() ? false : "Debian's nginx is not installed");

function conf(certs: TestCerts, backend: number, echo: number): string {
  return `
  ssl_certificate ${certs.aCrt};
  ssl_certificate_key ${certs.aKey};
  ssl_protocols TLSv1.2 TLSv1.3;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:PORT ssl;
    server_name a.test;
    location /v { return 200 "$scheme $https $ssl_protocol $ssl_cipher [$ssl_server_name] $server_port\\n"; }
    location /reused { return 200 "$ssl_session_reused [$ssl_server_name]\\n"; }
    location /alpn { return 200 "[$ssl_alpn_protocol] [$ssl_server_name]\\n"; }
    location /r { return 301 /x; }
    location /dir { root ${certs.dir}/site; }
    location /proxy {
      proxy_pass http://127.0.0.1:${backend};
      proxy_set_header X-Scheme $scheme;
      proxy_set_header X-Https $https;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location /ws/ {
      proxy_pass http://127.0.0.1:${echo};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }
  }
  server {
    listen 127.0.0.1:PORT ssl;
    server_name b.test;
    ssl_certificate ${certs.bCrt};
    ssl_certificate_key ${certs.bKey};
    location / { return 200 "b $scheme $https\\n"; }
  }
  server {
    listen 127.0.0.1:PORT ssl;
    server_name c.test;
    error_page 497 =301 https://$host:$server_port$request_uri;
    location / { return 200 "c\\n"; }
  }`;
}

/** A reply without Date and with the server token made neutral. */
function comparable(reply: string): string {
  return reply.replace(/\r\nDate: [^\r]*/, "").replace(/nginx\/[\d.]+|wsgate\/[\d.]+/g, "SERVER");
}

/** Error-log lines about TLS (any level), without time, pid and connection number. */
function tlsErrorLines(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => /SSL|HTTPS|client closed/.test(line))
    .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 ").replace(/:\d+$/, ":PORT"));
}

describe("differential: TLS termination", { skip }, () => {
  let certs: TestCerts;
  let backend: RecordingBackend;
  let echo: { port: number; close(): Promise<void> };
  const peers: Partial<Record<"nginx" | "wsgate", Peer>> = {};
  before(async () => {
    certs = makeCerts();
    backend = await startRecordingBackend();
    echo = await startEchoBackend();
    for (const name of ["nginx", "wsgate"] as const) {
      peers[name] = await startPeer(name, conf(certs, backend.port, echo.port));
    }
  });
  after(async () => {
    await peers.nginx?.stop();
    await peers.wsgate?.stop();
    await backend?.close();
    await echo?.close();
    certs?.remove();
  });

  const both = async <T>(ask: (peer: Peer) => Promise<T>): Promise<{ nginx: T; wsgate: T }> => ({
    nginx: await ask(peers.nginx!),
    wsgate: await ask(peers.wsgate!),
  });

  test("a request over TLS 1.3: head, body and the $ssl_ variables", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const { reply, protocol } = await tlsExchange(
        peer.port,
        "GET /v HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        { servername: "a.test", minVersion: "TLSv1.3" },
      );
      return { reply: comparable(reply).replace(` ${peer.port}\n`, " PORT\n"), protocol };
    });
    assert.equal(wsgate.protocol, "TLSv1.3");
    assert.match(wsgate.reply, /\r\n\r\nhttps on TLSv1\.3 TLS_AES_\w+ \[a\.test\] PORT\n$/);
    assert.deepEqual(wsgate, nginx);
  });

  test("TLS 1.2 when the client offers no more", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const { reply, protocol } = await tlsExchange(peer.port, "GET /v HTTP/1.0\r\nHost: a.test\r\n\r\n", {
        servername: "a.test",
        maxVersion: "TLSv1.2",
        ciphers: "ECDHE-RSA-AES128-GCM-SHA256",
      });
      return { body: reply.slice(reply.indexOf("\r\n\r\n") + 4).replace(` ${peer.port}\n`, ""), protocol };
    });
    assert.deepEqual(wsgate, { body: "https on TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 [a.test]", protocol: "TLSv1.2" });
    assert.deepEqual(wsgate, nginx);
  });

  test("ALPN: http/1.1 chosen, a client offering only h2 refused, none offered", async () => {
    for (const ALPNProtocols of [["h2", "http/1.1"], ["h2"], undefined]) {
      const { nginx, wsgate } = await both(async (peer) => {
        try {
          const { reply } = await tlsExchange(peer.port, "GET /alpn HTTP/1.0\r\nHost: a.test\r\n\r\n", {
            ...(ALPNProtocols ? { ALPNProtocols } : {}),
          });
          return reply.slice(reply.indexOf("\r\n\r\n") + 4);
        } catch (err) {
          return `refused: ${(err as NodeJS.ErrnoException).code ?? ""}`;
        }
      });
      assert.equal(wsgate, nginx, JSON.stringify(ALPNProtocols));
    }
  });

  test("sessions resume from a ticket, TLS 1.2 and 1.3; $ssl_session_reused and $ssl_server_name then", async () => {
    for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
      const { nginx, wsgate } = await both(async (peer) => {
        const bodies: string[] = [];
        let session: Buffer | undefined;
        for (let i = 0; i < 3; i++) {
          const answer = await tlsExchange(peer.port, "GET /reused HTTP/1.0\r\nHost: a.test\r\n\r\n", {
            servername: "a.test",
            maxVersion,
            ...(session ? { session } : {}),
          });
          session = answer.session ?? session;
          bodies.push(`${String(answer.reused)} ${answer.reply.slice(answer.reply.indexOf("\r\n\r\n") + 4)}`);
        }
        return bodies;
      });
      assert.deepEqual(wsgate, ["false . [a.test]\n", "true r [a.test]\n", "true r [a.test]\n"], maxVersion);
      assert.deepEqual(wsgate, nginx, maxVersion);
    }
  });

  test("SNI picks the certificate of the server named; no name or an unknown one gets the default's", async () => {
    for (const servername of ["a.test", "b.test", "B.TEST", "c.test", "unknown.test", undefined]) {
      const { nginx, wsgate } = await both(async (peer) => {
        const { subject } = await tlsExchange(
          peer.port,
          "GET / HTTP/1.0\r\nHost: b.test\r\n\r\n",
          servername ? { servername, minVersion: "TLSv1.3" } : { minVersion: "TLSv1.3" },
        );
        return subject;
      });
      assert.equal(wsgate, nginx, `SNI ${servername ?? "(none)"}`);
      assert.equal(wsgate, servername?.toLowerCase() === "b.test" ? "b.test" : "a.test");
    }
  });

  test("the request's server is chosen by Host, whatever the SNI name", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const { reply, subject } = await tlsExchange(peer.port, "GET / HTTP/1.0\r\nHost: b.test\r\n\r\n", {
        servername: "a.test",
        minVersion: "TLSv1.3",
      });
      return { reply: comparable(reply), subject };
    });
    assert.equal(wsgate.subject, "a.test");
    assert.match(wsgate.reply, /\r\n\r\nb https on\n$/);
    assert.deepEqual(wsgate, nginx);
  });

  test("what the backend receives: $scheme, $https, X-Forwarded-For", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const from = backend.heads.length;
      const { reply } = await tlsExchange(
        peer.port,
        "GET /proxy?x=1 HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n",
        { servername: "a.test" },
      );
      return { reply: comparable(reply), head: backend.heads.slice(from).join("") };
    });
    assert.match(wsgate.head, /\r\nX-Scheme: https\r\n/);
    assert.match(wsgate.head, /\r\nX-Https: on\r\n/);
    assert.match(wsgate.head, /\r\nX-Forwarded-For: 10\.0\.0\.1, 127\.0\.0\.1\r\n/);
    assert.deepEqual(wsgate, nginx);
  });

  test("relative redirects (return, a directory) are made absolute with https:// and the port", async () => {
    mkdirSync(join(certs.dir, "site", "dir"), { recursive: true });
    for (const path of ["/r", "/dir"]) {
      const { nginx, wsgate } = await both(async (peer) => {
        const { reply } = await tlsExchange(peer.port, `GET ${path} HTTP/1.0\r\nHost: a.test\r\n\r\n`, {
          servername: "a.test",
        });
        return comparable(reply).replace(`:${peer.port}/`, ":PORT/");
      });
      assert.match(wsgate, /\r\nLocation: https:\/\/a\.test:PORT\/(x|dir\/)\r\n/);
      assert.equal(wsgate, nginx);
    }
  });

  test("wss:// through the tunnel: text and binary echoed", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const socket = await openWss(`wss://127.0.0.1:${peer.port}/ws/chat`, "a.test");
      const answers = [await roundTrip(socket, "hello"), await roundTrip(socket, "x".repeat(70_000))];
      await closeWs(socket);
      return answers.map((text) => text.slice(0, 40) + `…${text.length}`);
    });
    assert.deepEqual(wsgate, ["echo: hello…11", `echo: ${"x".repeat(34)}…70006`]);
    assert.deepEqual(wsgate, nginx);
  });

  test("plain HTTP to the TLS port: nginx's 400 page, the connection closed; error_page 497", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const plain = await rawExchange(
        peer.port,
        "GET /v HTTP/1.1\r\nHost: a.test\r\n\r\nGET /v HTTP/1.1\r\nHost: a.test\r\n\r\n",
      );
      const redirected = await rawExchange(peer.port, "GET /c?q=1 HTTP/1.1\r\nHost: c.test\r\n\r\n");
      const head = await rawExchange(peer.port, "HEAD / HTTP/1.0\r\n\r\n");
      return [plain, redirected, head].map((reply) =>
        comparable(reply.toString("latin1")).replace(`:${peer.port}/`, ":PORT/"),
      );
    });
    assert.match(wsgate[0]!, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(wsgate[0]!, /<center>The plain HTTP request was sent to HTTPS port<\/center>/);
    assert.equal(wsgate[0]!.match(/HTTP\/1\.1/g)?.length, 1, "one response, then the connection is closed");
    assert.match(wsgate[1]!, /^HTTP\/1\.1 301 Moved Permanently\r\n[^]*Location: https:\/\/c\.test:PORT\/c\?q=1\r\n/);
    assert.deepEqual(wsgate, nginx);
  });

  test("broken handshakes close only their own connection", async () => {
    const { nginx, wsgate } = await both(async (peer) => {
      const open = await openWss(`wss://127.0.0.1:${peer.port}/ws/live`, "a.test");
      const replies = [
        await rawExchange(peer.port, Buffer.from("16030100056869686968", "hex")),
        await rawExchange(peer.port, Buffer.from("1603", "hex"), 300),
      ];
      const still = await roundTrip(open, "still here");
      await closeWs(open);
      return { replies: replies.map((reply) => reply.toString("hex")), still };
    });
    assert.equal(wsgate.still, "echo: still here");
    assert.deepEqual(wsgate, nginx);
  });

  test("the access-log lines and the TLS error-log lines", async () => {
    const access = (peer: Peer): string[] =>
      peer
        .accessLog()
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => line.replace(/\[[^\]]+\]/, "[TIME]"));
    // The lines are written as connections close: wait until both servers have written them all (bounded; the
    // comparison below says what differs if they never do).
    const settled = (): boolean => {
      const [nginx, wsgate] = [peers.nginx!, peers.wsgate!];
      const errors = tlsErrorLines(nginx.errorLog()).length;
      const lines = access(nginx).length;
      return (
        lines >= 10 &&
        errors >= 4 &&
        access(wsgate).length === lines &&
        tlsErrorLines(wsgate.errorLog()).length === errors
      );
    };
    await until(settled, 3000, "every log line").catch(() => undefined);
    const nginxAccess = access(peers.nginx!);
    assert.ok(nginxAccess.length >= 10, nginxAccess.join("\n"));
    assert.deepEqual(access(peers.wsgate!), nginxAccess);
    const nginxErrors = tlsErrorLines(peers.nginx!.errorLog());
    assert.ok(nginxErrors.length >= 4, nginxErrors.join("\n"));
    assert.deepEqual(tlsErrorLines(peers.wsgate!.errorLog()), nginxErrors);
  });
});
