/**
 * The PROXY protocol header parser (src/http/proxy-protocol.ts), the address
 * helpers it prints with (src/core/inet.ts) and the TLV lookup of
 * $proxy_protocol_tlv_* (src/vars/proxy-protocol-tlv.ts), by their values;
 * the same cases run against nginx in test/differential/proxy-protocol.test.ts.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readProxyProtocol } from "../../src/http/proxy-protocol.js";
import { addressText, inet6Ntop, parseAddrPort } from "../../src/core/inet.js";
import { proxyProtocolTlv } from "../../src/vars/proxy-protocol-tlv.js";

const SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");

function v2(versionCommand: number, familyTransport: number, body: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([SIGNATURE, Buffer.from([versionCommand, familyTransport]), length, body]);
}

describe("PROXY protocol v1", () => {
  test("TCP4 and TCP6: addresses as sent, ports, the bytes consumed", () => {
    const header = "PROXY TCP4 192.0.2.1 198.51.100.7 5100 80\r\n";
    const result = readProxyProtocol(Buffer.from(header + "GET / HTTP/1.1\r\n"));
    assert.deepEqual(result, {
      kind: "ok",
      consumed: header.length,
      facts: { srcAddr: "192.0.2.1", dstAddr: "198.51.100.7", srcPort: 5100, dstPort: 80 },
    });
    const six = readProxyProtocol(Buffer.from("PROXY TCP6 2001:DB8::1 ::1 0 65535\r\n"));
    assert.deepEqual(six.kind === "ok" && six.facts, {
      srcAddr: "2001:DB8::1",
      dstAddr: "::1",
      srcPort: 0,
      dstPort: 65535,
    });
  });

  test("UNKNOWN: no addresses, the line skipped up to its CRLF", () => {
    assert.deepEqual(readProxyProtocol(Buffer.from("PROXY UNKNOWN ffff::1 x\r\nGET")), {
      kind: "ok",
      consumed: 25,
      facts: undefined,
    });
  });

  test("broken headers: quoted up to the first CR or LF", () => {
    for (const [text, shown] of [
      ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1"],
      ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2"],
      ["PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2"],
      ["PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2"],
      ["PROXY TCP4 1.2.3.4 ", "PROXY TCP4 1.2.3.4 "],
      ["PROXY UNKNOWN", "PROXY UNKNOWN"],
      ["PROXY", "PROXY"],
      ["PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2"],
    ] as const) {
      assert.deepEqual(readProxyProtocol(Buffer.from(text)), { kind: "error", message: `broken header: "${shown}"` });
    }
  });
});

describe("PROXY protocol v2", () => {
  const v4 = Buffer.from([192, 0, 2, 1, 198, 51, 100, 7, 0x13, 0xec, 0x01, 0xbb]);

  test("PROXY over IPv4 and IPv6, TLVs kept", () => {
    const tlvs = Buffer.from([0x02, 0x00, 0x01, 0x61]);
    const header = v2(0x21, 0x11, Buffer.concat([v4, tlvs]));
    const result = readProxyProtocol(Buffer.concat([header, Buffer.from("GET")]));
    assert.deepEqual(result, {
      kind: "ok",
      consumed: header.length,
      facts: { srcAddr: "192.0.2.1", dstAddr: "198.51.100.7", srcPort: 5100, dstPort: 443, tlvs },
    });
    const six = Buffer.concat([Buffer.alloc(15), Buffer.from([1]), Buffer.alloc(16), Buffer.from([0, 1, 0, 2])]);
    const parsed = readProxyProtocol(v2(0x21, 0x21, six));
    assert.deepEqual(parsed.kind === "ok" && parsed.facts, { srcAddr: "::1", dstAddr: "::", srcPort: 1, dstPort: 2 });
  });

  test("LOCAL, an unspecified family, UDP: skipped without addresses", () => {
    for (const [command, family] of [
      [0x20, 0x11],
      [0x21, 0x01],
      [0x21, 0x12],
      [0x21, 0x31],
    ] as const) {
      const header = v2(command, family, v4);
      assert.deepEqual(readProxyProtocol(header), { kind: "ok", consumed: header.length, facts: undefined });
    }
  });

  test("errors: another version, a length past the bytes read, addresses cut short", () => {
    assert.deepEqual(readProxyProtocol(v2(0x31, 0x11, v4)), {
      kind: "error",
      message: "unknown PROXY protocol version: 3",
    });
    assert.deepEqual(readProxyProtocol(v2(0x21, 0x11, v4).subarray(0, 20)), {
      kind: "error",
      message: "header is too large",
    });
    assert.deepEqual(readProxyProtocol(v2(0x21, 0x11, v4.subarray(0, 11))), { kind: "error", message: undefined });
  });
});

describe("addresses as nginx prints them", () => {
  test("ngx_inet6_ntop(): the longest run of zero groups, mapped and compatible IPv4", () => {
    const bytes = (hex: string): Uint8Array => Buffer.from(hex, "hex");
    assert.equal(inet6Ntop(bytes("20010db8000000000000000000000001")), "2001:db8::1");
    assert.equal(inet6Ntop(bytes("20010db8000000010000000000000001")), "2001:db8:0:1::1");
    assert.equal(inet6Ntop(bytes("20010db8000100000001000000000001")), "2001:db8:1:0:1::1");
    assert.equal(inet6Ntop(bytes("00000000000000000000ffffc0000209")), "::ffff:192.0.2.9");
    assert.equal(inet6Ntop(bytes("000000000000000000000000c0000209")), "::192.0.2.9");
    assert.equal(inet6Ntop(bytes("00000000000000000000000000000001")), "::1");
    assert.equal(inet6Ntop(bytes("00000000000000000000000000000000")), "::");
    assert.equal(inet6Ntop(bytes("00010000000000000000000000000000")), "1::");
  });

  test("ngx_parse_addr_port(): an address, with a port, bracketed IPv6", () => {
    const parse = (text: string): string | undefined => {
      const parsed = parseAddrPort(text);
      return parsed && `${addressText(parsed.address)} ${parsed.port}`;
    };
    assert.equal(parse("203.0.113.9"), "203.0.113.9 0");
    assert.equal(parse("203.0.113.9:4321"), "203.0.113.9 4321");
    assert.equal(parse("[2001:DB8:0:0::5]:80"), "2001:db8::5 80");
    assert.equal(parse("2001:db8::5"), "2001:db8::5 0");
    assert.equal(parse("1..2.3"), "1.0.2.3 0");
    assert.equal(parse("203.0.113.9:0"), undefined);
    assert.equal(parse("[::1]"), undefined);
    assert.equal(parse("fe80::1%eth0"), undefined);
    assert.equal(parse("256.0.0.1"), undefined);
    assert.equal(parse("unknown"), undefined);
  });
});

describe("$proxy_protocol_tlv_*", () => {
  const ssl = Buffer.concat([
    Buffer.from([0x01, 0x00, 0x00, 0x00, 0x07]), // client, verify 7
    Buffer.from([0x21, 0x00, 0x07]),
    Buffer.from("TLSv1.3"),
  ]);
  const tlvs = Buffer.concat([
    Buffer.from([0x02, 0x00, 0x06]),
    Buffer.from("a.test"),
    Buffer.from([0x20, 0x00, ssl.length]),
    ssl,
    Buffer.from([0xe0, 0x00, 0x01, 0x78]),
  ]);
  const facts = { srcAddr: "192.0.2.1", dstAddr: "198.51.100.7", srcPort: 1, dstPort: 2, tlvs };

  test("by name, by type, inside the SSL TLV", () => {
    assert.deepEqual(proxyProtocolTlv(facts, "authority"), { value: "a.test" });
    assert.deepEqual(proxyProtocolTlv(facts, "0x02"), { value: "a.test" });
    assert.deepEqual(proxyProtocolTlv(facts, "0xE0"), { value: "x" });
    assert.deepEqual(proxyProtocolTlv(facts, "ssl_version"), { value: "TLSv1.3" });
    assert.deepEqual(proxyProtocolTlv(facts, "ssl_0x21"), { value: "TLSv1.3" });
    assert.deepEqual(proxyProtocolTlv(facts, "ssl_verify"), { value: "7" });
    assert.deepEqual(proxyProtocolTlv(facts, "alpn"), { notFound: true });
    assert.deepEqual(proxyProtocolTlv(facts, "ssl_cn"), { notFound: true });
    assert.deepEqual(proxyProtocolTlv(undefined, "alpn"), { notFound: true });
  });

  test("errors in nginx's words", () => {
    assert.deepEqual(proxyProtocolTlv(facts, "foo"), { error: `unknown PROXY protocol TLV "foo"` });
    assert.deepEqual(proxyProtocolTlv(facts, "ssl_foo"), { error: `unknown PROXY protocol TLV "ssl_foo"` });
    assert.deepEqual(proxyProtocolTlv(facts, "0xzz"), { error: `invalid PROXY protocol TLV "0xzz"` });
    const broken = { ...facts, tlvs: Buffer.from([0x02, 0x00, 0x09, 0x61]) };
    assert.deepEqual(proxyProtocolTlv(broken, "alpn"), { error: "broken PROXY protocol TLV" });
  });
});
