/**
 * Addresses in text as nginx reads and prints them (src/core/ngx_inet.c):
 * ngx_inet_addr() (dotted IPv4, each part at most 255), ngx_parse_addr(),
 * ngx_parse_addr_port() ("addr", "addr:port", "[v6]:port") and
 * ngx_inet6_ntop() (the longest run of two or more zero groups written "::",
 * IPv4-mapped and IPv4-compatible addresses with a dotted tail). The realip
 * module and the PROXY protocol print addresses through these, so that
 * $remote_addr reads as in nginx.
 */

import { isIPv6 } from "node:net";

export interface InetAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

/** ngx_inet_addr(): digits and exactly three dots, each part at most 255 (an empty part counts as 0). */
export function inetAddr(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(4);
  let octet = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return undefined;
    } else if (c === 0x2e) {
      if (dots === 3) return undefined;
      bytes[dots++] = octet;
      octet = 0;
    } else return undefined;
  }
  if (dots !== 3) return undefined;
  bytes[3] = octet;
  return bytes;
}

/** An IPv6 address in text (no zone: nginx takes hex digits, ":" and a dotted tail only). */
export function inet6Addr(text: string): Uint8Array | undefined {
  if (text === "" || text.includes("%") || !isIPv6(text)) return undefined;
  let rest = text;
  const bytes = new Uint8Array(16);
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(rest);
  if (dotted) {
    const v4 = inetAddr(dotted[1]!);
    if (!v4) return undefined;
    bytes.set(v4, 12);
    rest = rest.slice(0, -dotted[1]!.length) + "0:0";
  }
  const [head, tail] = rest.includes("::") ? rest.split("::") : [rest, undefined];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  const groupCount = dotted ? 6 : 8;
  for (let i = 0; i < groupCount; i++) {
    const value = parseInt(groups[i]!, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  }
  return bytes;
}

/** ngx_parse_addr(): an IPv4 address, else an IPv6 one. */
export function parseAddr(text: string): InetAddress | undefined {
  const v4 = inetAddr(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = inet6Addr(text);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** ngx_parse_addr_port(): an address alone (port 0), or with a port 1-65535 ("1.2.3.4:80", "[::1]:80"). */
export function parseAddrPort(text: string): { address: InetAddress; port: number } | undefined {
  const plain = parseAddr(text);
  if (plain) return { address: plain, port: 0 };
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1 || close === text.length - 1 || text[close + 1] !== ":") return undefined;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.indexOf(":");
    if (colon === -1) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  const port = /^\d+$/.test(portText) ? Number(portText) : -1;
  if (port < 1 || port > 65535) return undefined;
  const address = parseAddr(host);
  return address ? { address, port } : undefined;
}

/** ngx_sock_ntop() without the port. */
export function addressText(address: InetAddress): string {
  return address.family === 4 ? address.bytes.join(".") : inet6Ntop(address.bytes);
}

/** ngx_inet6_ntop(). */
export function inet6Ntop(p: Uint8Array): string {
  let zero = -1;
  let last = -1;
  let max = 1;
  let n = 0;
  for (let i = 0; i < 16; i += 2) {
    if (p[i] || p[i + 1]) {
      if (max < n) {
        zero = last;
        max = n;
      }
      n = 0;
      continue;
    }
    if (n++ === 0) last = i;
  }
  if (max < n) {
    zero = last;
    max = n;
  }
  let text = "";
  let end = 16;
  if (zero === 0) {
    if ((max === 5 && p[10] === 0xff && p[11] === 0xff) || max === 6 || (max === 7 && p[14] !== 0 && p[15] !== 1)) {
      end = 12;
    }
    text += ":";
  }
  for (let i = 0; i < end; i += 2) {
    if (i === zero) {
      text += ":";
      i += (max - 1) * 2;
      continue;
    }
    text += (p[i]! * 256 + p[i + 1]!).toString(16);
    if (i < 14) text += ":";
  }
  if (end === 12) text += `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
  return text;
}
