/**
 * ngx_http_realip_module at request time (ngx_http_realip_handler() with
 * ngx_http_get_forwarded_addr()): when the connection comes from a trusted
 * address (set_real_ip_from), the client's address is taken from the header
 * named by real_ip_header, or from the PROXY protocol header, and replaces
 * $remote_addr and $remote_port for the rest of the request — allow/deny, the
 * access log, error-log lines, ip_hash and $proxy_add_x_forwarded_for see it.
 *
 * It runs twice, as nginx registers it: in the post-read phase with the
 * server's settings and in the preaccess phase with the location's, and sets
 * the address at most once per request. The connection keeps its own address
 * ($realip_remote_addr) for the next request on it.
 */

import type { LocConf } from "../config/model.js";
import type { RealIpSource } from "../config/modules/realip.js";
import { addressText, parseAddrPort } from "../core/inet.js";
import { clientAddress, matches } from "./access.js";
import type { HttpRequest } from "./request.js";

/** An address realip put in force, with its port (0 when the header gave none: $remote_port is empty). */
export interface RealAddress {
  readonly address: string;
  readonly port: number;
}

type Outcome = "ok" | "done" | "declined";

export function runRealip(r: HttpRequest, loc: LocConf): void {
  if (r.realAddress) return;
  const from = loc.realIpFrom;
  if (!from) return;
  const start: RealAddress = { address: r.connection.remoteAddress, port: r.connection.remotePort };
  const header = loc.realIpHeader;
  let result: { rc: Outcome; addr: RealAddress };
  if (header.kind === "x-forwarded-for") {
    const values = headerValues(r, "x-forwarded-for");
    if (values.length === 0) return;
    result = fromHeaders(start, values, from, loc.realIpRecursive);
  } else {
    let value: string | undefined;
    if (header.kind === "proxy_protocol") value = r.connection.proxyProtocol?.srcAddr;
    else value = headerValues(r, header.kind === "x-real-ip" ? "x-real-ip" : header.name)[0];
    if (value === undefined) return;
    result = fromList(start, value, from, loc.realIpRecursive);
  }
  if (result.rc === "declined") return;
  const pp = r.connection.proxyProtocol;
  r.realAddress = header.kind === "proxy_protocol" && pp ? { ...result.addr, port: pp.srcPort } : result.addr;
}

function headerValues(r: HttpRequest, lowerName: string): string[] {
  const values: string[] = [];
  for (const [name, value] of r.headers) if (name.toLowerCase() === lowerName) values.push(value);
  return values;
}

function trusted(from: readonly RealIpSource[], address: string): boolean {
  const client = clientAddress(address);
  // Host names were looked up when the configuration was read (lookUpRealIpHosts()).
  return from.some((source) => source.kind !== "host" && matches(source, client));
}

/** ngx_http_get_forwarded_addr() over several X-Forwarded-For lines: the last first, on while recursive. */
function fromHeaders(
  start: RealAddress,
  values: readonly string[],
  from: readonly RealIpSource[],
  recursive: boolean,
): { rc: Outcome; addr: RealAddress } {
  let rc: Outcome = "declined";
  let addr = start;
  let found = false;
  for (let i = values.length - 1; i >= 0; i--) {
    const result = fromList(addr, values[i]!, from, recursive);
    rc = result.rc;
    addr = result.addr;
    if (!recursive) break;
    if (rc === "declined" && found) {
      rc = "done";
      break;
    }
    if (rc !== "ok") break;
    found = true;
  }
  return { rc, addr };
}

/**
 * ngx_http_get_forwarded_addr_internal(): while the address in hand is
 * trusted, the last address of the list (separated by spaces and commas,
 * "addr", "addr:port" or "[v6]:port") becomes it; recursive goes on leftwards.
 */
function fromList(
  start: RealAddress,
  xff: string,
  from: readonly RealIpSource[],
  recursive: boolean,
): { rc: Outcome; addr: RealAddress } {
  let addr = start;
  let found = false;
  let len = xff.length;
  const separator = (at: number): boolean => xff[at] === " " || xff[at] === ",";
  let p: number;
  do {
    if (!trusted(from, addr.address)) return { rc: found ? "done" : "declined", addr };
    p = len - 1;
    while (p > 0 && separator(p)) {
      p--;
      len--;
    }
    while (p > 0 && !separator(p)) p--;
    if (p > 0) p++;
    const parsed = p >= 0 ? parseAddrPort(xff.slice(p, len)) : undefined;
    if (!parsed) return { rc: found ? "done" : "declined", addr };
    addr = { address: addressText(parsed.address), port: parsed.port };
    found = true;
    len = p - 1;
  } while (recursive && p > 0);
  return { rc: "ok", addr };
}
