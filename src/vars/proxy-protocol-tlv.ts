/**
 * $proxy_protocol_tlv_NAME: the TLVs of a PROXY protocol v2 header, as
 * ngx_proxy_protocol_get_tlv() and ngx_proxy_protocol_lookup_tlv()
 * (src/core/ngx_proxy_protocol.c, nginx 1.23.2+).
 */

import type { ProxyProtocolFacts } from "./source.js";

/** TLV names of $proxy_protocol_tlv_NAME (ngx_proxy_protocol_tlv_entries), and those under "ssl_". */
const TLV_TYPES: Readonly<Record<string, number>> = {
  alpn: 0x01,
  authority: 0x02,
  unique_id: 0x05,
  ssl: 0x20,
  netns: 0x30,
};
const SSL_TLV_TYPES: Readonly<Record<string, number>> = {
  version: 0x21,
  cn: 0x22,
  cipher: 0x23,
  sig_alg: 0x24,
  key_alg: 0x25,
};

/** A TLV's value; "not found"; or an error in nginx's words, "" for one it does not log (the variable is not found). */
export type TlvResult = { readonly value: string } | { readonly notFound: true } | { readonly error: string };

/**
 * ngx_proxy_protocol_get_tlv(): `name` is a known name ("alpn", "ssl_cn",
 * "ssl_verify" …) or a type in hex ("0x01", "ssl_0x22").
 */
export function proxyProtocolTlv(facts: ProxyProtocolFacts | undefined, name: string): TlvResult {
  if (!facts) return { notFound: true };
  let tlvs = facts.tlvs ?? Buffer.alloc(0);
  let names = TLV_TYPES;
  let rest = name;
  if (rest.startsWith("ssl_")) {
    const found = lookupTlv(tlvs, 0x20);
    if (!("found" in found)) return found;
    const ssl = found.found;
    // The SSL TLV's own fields: client (1 byte), verify (4 bytes), then sub-TLVs; shorter is an error nginx does not log.
    if (ssl.length < 5) return { error: "" };
    rest = rest.slice(4);
    if (rest === "verify") return { value: String(ssl.readUInt32BE(1)) };
    tlvs = ssl.subarray(5);
    names = SSL_TLV_TYPES;
  }
  let type: number | undefined;
  if (rest.startsWith("0x")) {
    const hex = rest.slice(2);
    type = /^[0-9a-fA-F]+$/.test(hex) ? parseInt(hex, 16) : undefined;
    if (type === undefined) return { error: `invalid PROXY protocol TLV "${name}"` };
  } else type = names[rest];
  if (type === undefined) return { error: `unknown PROXY protocol TLV "${name}"` };
  const found = lookupTlv(tlvs, type);
  return "found" in found ? { value: found.found.toString("latin1") } : found;
}

/** ngx_proxy_protocol_lookup_tlv(): type (1 byte), length (2 bytes), value; a TLV cut short is broken. */
function lookupTlv(tlvs: Buffer, type: number): { found: Buffer } | { notFound: true } | { error: string } {
  let at = 0;
  while (at < tlvs.length) {
    if (tlvs.length - at < 3) return { error: "broken PROXY protocol TLV" };
    const length = tlvs.readUInt16BE(at + 1);
    if (tlvs.length - at - 3 < length) return { error: "broken PROXY protocol TLV" };
    if (tlvs[at] === type) return { found: tlvs.subarray(at + 3, at + 3 + length) };
    at += 3 + length;
  }
  return { notFound: true };
}
