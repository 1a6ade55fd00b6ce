/**
 * The PROXY protocol header a `listen … proxy_protocol` connection starts
 * with, as ngx_proxy_protocol_read() (src/core/ngx_proxy_protocol.c):
 *
 * - v1, text: "PROXY TCP4|TCP6 src dst sport dport\r\n", or "PROXY UNKNOWN…\r\n"
 *   (no addresses). Addresses are taken as sent (hex digits, "." and ":"),
 *   ports 0-65535.
 * - v2, binary: the 12-byte signature, version 2, then the command (PROXY;
 *   LOCAL and others are skipped without addresses), the family (AF_INET,
 *   AF_INET6; others skipped) and the transport (STREAM; others skipped),
 *   the addresses, and TLVs kept for $proxy_protocol_tlv_*.
 *
 * As nginx, the header is read from the first bytes received only: a header
 * cut short is a broken one. A failure is logged at error level in nginx's
 * words ("broken header: …", "header is too large") and the connection is
 * closed without a response.
 */

import { addressText } from "../core/inet.js";
import type { ProxyProtocolFacts } from "../vars/source.js";

export type ProxyHeaderResult =
  /** `facts` undefined: UNKNOWN, LOCAL, or a family or transport nginx does not take (no addresses). */
  | { readonly kind: "ok"; readonly consumed: number; readonly facts: ProxyProtocolFacts | undefined }
  /** `message` undefined: closed without a line, as nginx does for a v2 address block cut short. */
  | { readonly kind: "error"; readonly message: string | undefined };

/** What a TLS address peeks at for the header: NGX_PROXY_PROTOCOL_MAX_HEADER + 1 bytes. */
export const PROXY_PROTOCOL_PEEK = 4097;

const SIGNATURE = Buffer.from("\r\n\r\n\0\r\nQUIT\n", "latin1");
/** signature, version/command, family/transport, length. */
const V2_HEADER = 16;
const CR = 0x0d;
const LF = 0x0a;

export function readProxyProtocol(buf: Buffer): ProxyHeaderResult {
  if (buf.length >= V2_HEADER && buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return readV2(buf);
  if (buf.length < 8 || buf.toString("latin1", 0, 6) !== "PROXY ") return broken(buf);
  let at = 6;
  if (buf.length - at >= 7 && buf.toString("latin1", at, at + 7) === "UNKNOWN") {
    // The rest of the line is skipped, up to the first CRLF.
    for (at += 7; at < buf.length - 1; at++) {
      if (buf[at] === CR && buf[at + 1] === LF) return { kind: "ok", consumed: at + 2, facts: undefined };
    }
    return broken(buf);
  }
  if (
    buf.length - at < 5 ||
    buf.toString("latin1", at, at + 3) !== "TCP" ||
    (buf[at + 3] !== 0x34 && buf[at + 3] !== 0x36) ||
    buf[at + 4] !== 0x20
  ) {
    return broken(buf);
  }
  at += 5;
  const src = readAddr(buf, at);
  if (!src) return broken(buf);
  const dst = readAddr(buf, src.next);
  if (!dst) return broken(buf);
  const srcPort = readPort(buf, dst.next, 0x20);
  if (!srcPort) return broken(buf);
  const dstPort = readPort(buf, srcPort.next, CR);
  if (!dstPort || dstPort.next === buf.length || buf[dstPort.next] !== LF) return broken(buf);
  return {
    kind: "ok",
    consumed: dstPort.next + 1,
    facts: { srcAddr: src.text, dstAddr: dst.text, srcPort: srcPort.port, dstPort: dstPort.port },
  };
}

/** nginx's line for a v1 header it cannot read: what came before the first CR or LF. */
function broken(buf: Buffer): ProxyHeaderResult {
  let end = 0;
  while (end < buf.length && buf[end] !== CR && buf[end] !== LF) end++;
  return { kind: "error", message: `broken header: "${buf.toString("latin1", 0, end)}"` };
}

/** ngx_proxy_protocol_read_addr(): hex digits, "." and ":" up to a space. */
function readAddr(buf: Buffer, from: number): { text: string; next: number } | undefined {
  for (let at = from; at < buf.length; at++) {
    const c = buf[at]!;
    if (c === 0x20) return { text: buf.toString("latin1", from, at), next: at + 1 };
    const hex = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
    if (!hex && c !== 0x3a && c !== 0x2e) return undefined;
  }
  return undefined;
}

/** ngx_proxy_protocol_read_port(): decimal digits (ngx_atoi) up to `last`, at most 65535. */
function readPort(buf: Buffer, from: number, last: number): { port: number; next: number } | undefined {
  const end = buf.indexOf(last, from);
  if (end === -1) return undefined;
  const text = buf.toString("latin1", from, end);
  if (!/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? { port, next: end + 1 } : undefined;
}

/** ngx_proxy_protocol_v2_read(). */
function readV2(buf: Buffer): ProxyHeaderResult {
  const version = buf[12]! >> 4;
  if (version !== 2) return { kind: "error", message: `unknown PROXY protocol version: ${version}` };
  const length = buf.readUInt16BE(14);
  if (buf.length - V2_HEADER < length) return { kind: "error", message: "header is too large" };
  const end = V2_HEADER + length;
  const command = buf[12]! & 0x0f;
  const transport = buf[13]! & 0x0f;
  // Only PROXY over STREAM carries addresses nginx uses; the rest is skipped.
  if (command !== 1 || transport !== 1) return { kind: "ok", consumed: end, facts: undefined };
  const family = buf[13]! >> 4;
  const size = family === 1 ? 4 : family === 2 ? 16 : 0;
  if (size === 0) return { kind: "ok", consumed: end, facts: undefined };
  const at = V2_HEADER;
  if (end - at < size * 2 + 4) return { kind: "error", message: undefined };
  const inet = (offset: number): string =>
    addressText({ family: size === 4 ? 4 : 6, bytes: buf.subarray(offset, offset + size) });
  const tlvsAt = at + size * 2 + 4;
  const facts = {
    srcAddr: inet(at),
    dstAddr: inet(at + size),
    srcPort: buf.readUInt16BE(at + size * 2),
    dstPort: buf.readUInt16BE(at + size * 2 + 2),
    // Copied: the chunk they came in is not kept.
    ...(end > tlvsAt ? { tlvs: Buffer.from(buf.subarray(tlvsAt, end)) } : {}),
  };
  return { kind: "ok", consumed: end, facts };
}
