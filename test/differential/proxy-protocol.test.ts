/**
 * `listen … proxy_protocol` against nginx: PROXY protocol v1 (TCP4, TCP6,
 * UNKNOWN) and v2 (PROXY over IPv4 and IPv6, LOCAL, an unspecified family)
 * headers, then the request; $proxy_protocol_* and realip's
 * `real_ip_header proxy_protocol` ($remote_addr, $remote_port,
 * $realip_remote_addr) in the access log and in what the backend gets;
 * broken headers (no header, bad fields, a header cut across two packets,
 * one past the buffer, an unknown v2 version, a v2 length past the bytes
 * sent) closed without a response, with nginx's error-log lines; the
 * client_header_timeout line of a client that sends nothing; an
 * `ssl proxy_protocol` address (the header before the TLS handshake).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import {
  peersWith,
  skipWithoutNginx,
  startPeer,
  startRecordingBackend,
  type Peer,
  type RecordingBackend,
} from "./peers.js";
import { until } from "../support/wait.js";
import { makeCerts, type TestCerts } from "../tls/certs.js";

const skip = skipWithoutNginx();

const LOG_FORMAT =
  `'$remote_addr|$remote_port|$realip_remote_addr|$proxy_protocol_addr|$proxy_protocol_port|` +
  `$proxy_protocol_server_addr|$proxy_protocol_server_port|$request|$status'`;

function conf(backend: number): string {
  const pass = `proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_pass http://127.0.0.1:${backend};`;
  return `
  log_format pp ${LOG_FORMAT};
  server {
    listen 127.0.0.1:PORT proxy_protocol;
    client_header_timeout 1s;
    access_log logs/pp.log pp;
    location / { ${pass} }
    location /real { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; ${pass} }
    location /untrusted { set_real_ip_from 10.0.0.0/8; real_ip_header proxy_protocol; ${pass} }
    location /deny { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; deny 192.0.2.1; ${pass} }
  }`;
}

/** A v2 header: version 2, `command`, `familyTransport`, then `body` (addresses and TLVs). */
function v2(command: number, familyTransport: number, body: Buffer, version = 2): Buffer {
  const head = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([head, Buffer.from([(version << 4) | command, familyTransport]), length, body]);
}

function ports(src: number, dst: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt16BE(src);
  buf.writeUInt16BE(dst, 2);
  return buf;
}

const V4_BODY = Buffer.concat([Buffer.from([192, 0, 2, 1, 198, 51, 100, 7]), ports(5100, 443)]);
const V6_SRC = Buffer.from("20010db8000000000000000000000001", "hex");
const V6_DST = Buffer.from("20010db8000000000000000000000002", "hex");
const MAPPED = Buffer.from("00000000000000000000ffffc0000209", "hex");
const TLVS = Buffer.from([0x02, 0x00, 0x03, 0x61, 0x2e, 0x62]);

function request(path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n`, "latin1");
}

/** [name, parts sent one after the other (50 ms apart)]. */
const CASES: ReadonlyArray<readonly [string, readonly Buffer[]]> = [
  ["v1 TCP4", [Buffer.concat([Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 5100 80\r\n"), request("/v1")])]],
  ["v1 TCP6", [Buffer.concat([Buffer.from("PROXY TCP6 2001:db8::1 2001:db8::2 5100 443\r\n"), request("/v6")])]],
  ["v1 UNKNOWN", [Buffer.concat([Buffer.from("PROXY UNKNOWN\r\n"), request("/unknown")])]],
  ["v1 UNKNOWN with addresses", [Buffer.concat([Buffer.from("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), request("/u")])]],
  ["v1 port 0", [Buffer.concat([Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 0 80\r\n"), request("/zero")])]],
  ["v1 not checked as an address", [Buffer.concat([Buffer.from("PROXY TCP4 abc 1.2.3.4 1 2\r\n"), request("/real")])]],
  ["v1 then realip", [Buffer.concat([Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 5100 80\r\n"), request("/real")])]],
  ["v1 TCP6 then realip", [Buffer.concat([Buffer.from("PROXY TCP6 2001:DB8:0:0::1 ::1 7 8\r\n"), request("/real")])]],
  ["v1 untrusted", [Buffer.concat([Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 5 80\r\n"), request("/untrusted")])]],
  [
    "v1 realip then deny",
    [Buffer.concat([Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 5 80\r\n"), request("/deny")])],
  ],
  [
    "v1 realip then allowed",
    [Buffer.concat([Buffer.from("PROXY TCP4 192.0.2.2 198.51.100.7 5 80\r\n"), request("/deny")])],
  ],
  ["header and request apart", [Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 5100 80\r\n"), request("/apart")]],
  ["v2 TCP4", [Buffer.concat([v2(1, 0x11, V4_BODY), request("/v2")])]],
  ["v2 TCP4 with TLVs", [Buffer.concat([v2(1, 0x11, Buffer.concat([V4_BODY, TLVS])), request("/real")])]],
  ["v2 TCP6", [Buffer.concat([v2(1, 0x21, Buffer.concat([V6_SRC, V6_DST, ports(1, 2)])), request("/real")])]],
  ["v2 mapped", [Buffer.concat([v2(1, 0x21, Buffer.concat([MAPPED, V6_DST, ports(1, 2)])), request("/real")])]],
  ["v2 LOCAL", [Buffer.concat([v2(0, 0x11, V4_BODY), request("/local")])]],
  ["v2 AF_UNSPEC", [Buffer.concat([v2(1, 0x01, Buffer.alloc(0)), request("/unspec")])]],
  ["v2 UDP", [Buffer.concat([v2(1, 0x12, V4_BODY), request("/udp")])]],
  ["no header", [request("/none")]],
  ["bad protocol", [Buffer.from("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n")]],
  ["bad address", [Buffer.from("PROXY TCP4 1.2.3.x 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n")]],
  ["port too big", [Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\nGET / HTTP/1.1\r\n\r\n")]],
  ["empty port", [Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8  2\r\nGET / HTTP/1.1\r\n\r\n")]],
  ["LF only", [Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET / HTTP/1.1\r\n\r\n")]],
  ["UNKNOWN without CRLF", [Buffer.from("PROXY UNKNOWN")]],
  ["cut across packets", [Buffer.from("PROXY TCP4 192.0.2.1 "), Buffer.from("198.51.100.7 1 2\r\n"), request("/cut")]],
  ["longer than the buffer", [Buffer.from(`PROXY TCP6 ${"a".repeat(1100)} ::1 1 2\r\n`)]],
  ["v2 version 3", [Buffer.concat([v2(1, 0x11, V4_BODY, 3), request("/v3")])]],
  ["v2 length past the bytes", [v2(1, 0x11, V4_BODY).subarray(0, 20)]],
  ["v2 short addresses", [Buffer.concat([v2(1, 0x11, V4_BODY.subarray(0, 6)), request("/short")])]],
];

interface Outcome {
  readonly reply: string;
}

/** Send the parts 50 ms apart; the reply's status line, or how the connection ended without one. */
function send(port: number, parts: readonly Buffer[]): Promise<Outcome> {
  return new Promise((done) => {
    const socket: Socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => finish("no reply within 3 s"), 3000);
    const finish = (how: string): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      done({ reply: text === "" ? how : text.split("\r\n")[0]! });
    };
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish("closed without a reply"));
    socket.on("error", () => finish("reset without a reply"));
    socket.on("connect", () => {
      parts.forEach((part, i) => setTimeout(() => socket.writable && socket.write(part), i * 50));
    });
  });
}

/**
 * The error-log records of `text` at error level and above (a record may span lines: nginx 1.22 logs the
 * whole first read of a broken header), each as nginx 1.28 writes it: since 1.25 the broken header is
 * quoted up to its first CR or LF only (ngx_proxy_protocol_read()).
 */
function errorRecords(text: string): string[] {
  return text
    .split(/\n(?=\d{4}\/\d\d\/\d\d )/)
    .filter((record) => / \[(error|crit|alert|emerg)\] /.test(record))
    .map((record) => {
      const quoted = /broken header: "([\s\S]*)" while reading PROXY protocol/.exec(record);
      const cut = quoted ? record.replace(quoted[1]!, quoted[1]!.split(/[\r\n]/)[0]!) : record;
      return normalise(cut.trimEnd());
    });
}

/** Connect and close at once (a FIN before any byte); the lines logged about the PROXY header. */
async function closeAtOnce(peer: Peer): Promise<string[]> {
  const errors = peer.errorLog().length;
  await new Promise<void>((done) => {
    const socket = connect(peer.port, "127.0.0.1", () => socket.end());
    socket.on("close", () => done());
    socket.on("error", () => done());
    socket.resume();
  });
  await until(() => peer.errorLog().length > errors, 1000, "a log line").catch(() => undefined);
  return errorRecordsAll(peer.errorLog().slice(errors)).filter((line) => line.includes("PROXY"));
}

/** Every error-log record (any level), normalised. */
function errorRecordsAll(text: string): string[] {
  return text
    .split(/\n(?=\d{4}\/\d\d\/\d\d )/)
    .filter((record) => record.trim() !== "")
    .map((record) => normalise(record.trimEnd()));
}

const normalise = (line: string): string =>
  line
    .replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 ")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
    .replace(/\[TIME\]|\[[^\]]*\d{4}[^\]]*\]/, "[TIME]");

describe("differential: listen … proxy_protocol and real_ip_header proxy_protocol", { skip }, () => {
  let backend: RecordingBackend;
  const peers = peersWith(
    async () => {
      backend = await startRecordingBackend();
      return conf(backend.port);
    },
    async () => {
      await backend?.close();
    },
  );

  /** The reply, what the backend got, the new access-log line and the new error-log lines. */
  async function run(name: "nginx" | "wsgate", parts: readonly Buffer[]): Promise<string[]> {
    const peer = peers[name]!;
    const heads = backend.heads.length;
    const logged = peer.readLog("pp.log").length;
    const errors = peer.errorLog().length;
    const { reply } = await send(peer.port, parts);
    // A request's access-log line, or a refusal's error line, is written as the connection ends.
    await until(() => peer.readLog("pp.log").length > logged || peer.errorLog().length > errors, 1000, "a log line")
      .then(() => new Promise((done) => setTimeout(done, 50)))
      .catch(() => undefined);
    const head = backend.heads.slice(heads).join("");
    const forwarded = head
      .split("\r\n")
      .filter((line) => /^x-(real-ip|forwarded-for):/i.test(line))
      .join(" / ");
    // The client's own (ephemeral, five-digit) port differs between the runs; the PROXY ports are below 10000.
    const access = peer
      .readLog("pp.log")
      .slice(logged)
      .trim()
      .replace(/^([^|]*)\|\d{5}\|/, "$1|EPHEMERAL|");
    const errorLines = errorRecords(peer.errorLog().slice(errors));
    return [reply, `backend: ${forwarded || "-"}`, `access: ${access || "-"}`, ...errorLines];
  }

  for (const [name, parts] of CASES) {
    test(name, async () => {
      const nginx = await run("nginx", parts);
      const wsgate = await run("wsgate", parts);
      assert.equal(wsgate.join("\n"), nginx.join("\n"));
    });
  }

  test("nothing sent: client_header_timeout closes the connection, logged at info", async () => {
    const lines = async (name: "nginx" | "wsgate"): Promise<string[]> => {
      const peer = peers[name]!;
      const errors = peer.errorLog().length;
      const { reply } = await send(peer.port, []);
      await until(() => peer.errorLog().length > errors, 1000, "a log line").catch(() => undefined);
      const logged = peer
        .errorLog()
        .slice(errors)
        .split("\n")
        .filter((line) => line.includes("PROXY"))
        .map(normalise);
      return [reply, ...logged];
    };
    const nginx = await lines("nginx");
    assert.match(nginx.join("\n"), /client timed out/);
    assert.deepEqual(await lines("wsgate"), nginx);
  });

  test("a client that closes before sending anything", async () => {
    const nginx = await closeAtOnce(peers.nginx!);
    assert.match(nginx.join("\n"), /client closed connection/);
    assert.deepEqual(await closeAtOnce(peers.wsgate!), nginx);
  });
});

describe("differential: an ssl proxy_protocol address", { skip }, () => {
  let certs: TestCerts;
  let backend: RecordingBackend;
  const peers: Partial<Record<"nginx" | "wsgate", Peer>> = {};
  before(async () => {
    certs = makeCerts();
    backend = await startRecordingBackend();
    const body = `
    log_format pp ${LOG_FORMAT};
    server {
      listen 127.0.0.1:PORT ssl proxy_protocol;
      ssl_certificate ${certs.aCrt};
      ssl_certificate_key ${certs.aKey};
      access_log logs/pp.log pp;
      set_real_ip_from 127.0.0.1;
      real_ip_header proxy_protocol;
      location / { proxy_set_header X-Real-IP $remote_addr; proxy_pass http://127.0.0.1:${backend.port}; }
    }`;
    for (const name of ["nginx", "wsgate"] as const) peers[name] = await startPeer(name, body);
  });
  after(async () => {
    await peers.nginx?.stop();
    await peers.wsgate?.stop();
    await backend?.close();
    certs?.remove();
  });

  /** The PROXY header in clear, then TLS on the same connection and a request. */
  function overTls(port: number, header: Buffer): Promise<string> {
    return new Promise((done) => {
      const raw = connect(port, "127.0.0.1");
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => finish(), 3000);
      const finish = (): void => {
        clearTimeout(timer);
        raw.destroy();
        const text = Buffer.concat(chunks).toString("latin1");
        done(text === "" ? "no reply" : text.split("\r\n")[0]!);
      };
      raw.on("error", finish);
      raw.once("connect", () => {
        raw.write(header);
        const secure = tlsConnect({ socket: raw, servername: "a.test", rejectUnauthorized: false });
        secure.on("data", (chunk: Buffer) => chunks.push(chunk));
        secure.on("end", finish);
        secure.on("error", finish);
        secure.once("secureConnect", () => secure.write(request("/tls")));
      });
    });
  }

  for (const [name, header] of [
    ["v1", Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.7 5100 443\r\n")],
    ["v2", v2(1, 0x11, V4_BODY)],
  ] as const) {
    test(name, async () => {
      const results: string[] = [];
      for (const peerName of ["nginx", "wsgate"] as const) {
        const peer = peers[peerName]!;
        const logged = peer.readLog("pp.log").length;
        const heads = backend.heads.length;
        const reply = await overTls(peer.port, header);
        await until(() => peer.readLog("pp.log").length > logged, 1000, "a log line").catch(() => undefined);
        const realIp = /\r\nX-Real-IP: ([^\r]*)/i.exec(backend.heads.slice(heads).join(""))?.[1] ?? "-";
        results.push(`${reply} | ${realIp} | ${peer.readLog("pp.log").slice(logged).trim()}`);
      }
      assert.match(results[0]!, /^HTTP\/1\.1 200/);
      assert.equal(results[1], results[0]);
    });
  }

  test("a broken header on the TLS address", async () => {
    const results: string[] = [];
    for (const peerName of ["nginx", "wsgate"] as const) {
      const peer = peers[peerName]!;
      const errors = peer.errorLog().length;
      const { reply } = await send(peer.port, [Buffer.from("PROXY TCP9 x\r\n")]);
      await until(() => peer.errorLog().length > errors, 1000, "a log line").catch(() => undefined);
      const lines = errorRecords(peer.errorLog().slice(errors));
      results.push([reply, ...lines].join("\n"));
    }
    assert.match(results[0]!, /broken header/);
    assert.equal(results[1], results[0]);
  });

  test("a client that closes before sending anything", async () => {
    const nginx = await closeAtOnce(peers.nginx!);
    assert.deepEqual(await closeAtOnce(peers.wsgate!), nginx);
  });
});
