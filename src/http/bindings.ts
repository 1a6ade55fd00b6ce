/**
 * Which listening sockets a configuration needs, and the server blocks behind
 * each. As nginx, when a port has a wildcard listen (`listen 8020`), only the
 * wildcard is bound and connections are told apart by their local address;
 * specific addresses are bound on their own otherwise.
 */

import type { HttpConf, ListenConf, ServerConf } from "../config/model.js";
import { indexServers, type AddressServers } from "./select-server.js";

export interface Binding {
  readonly listen: ListenConf;
  readonly servers: AddressServers;
  /** Specific addresses on the same port, served through this wildcard socket. */
  readonly byLocalAddress: Map<string, AddressServers>;
  /** A socket on one IPv4 address: every connection's local address, known without a getsockname(). */
  readonly localAddress?: string;
}

interface AddressEntry {
  listen: ListenConf;
  readonly servers: ServerConf[];
}

/** Each listening address (nginx's addr_text) with the servers that listen on it, in order. */
function serversByAddress(http: HttpConf): Map<string, AddressEntry> {
  const byText = new Map<string, AddressEntry>();
  for (const server of http.servers) {
    for (const listen of server.listens) {
      const entry = byText.get(listen.text);
      if (entry) {
        if (!entry.servers.includes(server)) entry.servers.push(server);
        if (listen.defaultServer) entry.listen = listen;
      } else byText.set(listen.text, { listen, servers: [server] });
    }
  }
  return byText;
}

/**
 * nginx's "conflicting server name" warnings (ngx_http_server_names()): per
 * address, a name already taken there — by another server or the same one —
 * is ignored, which indexServers() does by keeping the first. As nginx's
 * ngx_hash_add_key(), ".example.com" takes "example.com" too, and "*.example.com"
 * and ".example.com" are the same wildcard; regexes never conflict.
 */
export function serverNameWarnings(http: HttpConf): string[] {
  const warnings: string[] = [];
  for (const [text, entry] of serversByAddress(http)) {
    const exact = new Set<string>();
    const leading = new Set<string>();
    const trailing = new Set<string>();
    for (const server of entry.servers) {
      for (const name of server.names) {
        if (name.startsWith("~")) continue;
        let busy: boolean;
        if (name.startsWith("*.")) busy = claimed(leading, name.slice(2));
        else if (name.startsWith(".")) busy = claimed(exact, name.slice(1)) || claimed(leading, name.slice(1));
        else if (name.endsWith(".*")) busy = claimed(trailing, name.slice(0, -2));
        else busy = claimed(exact, name);
        if (busy) warnings.push(`conflicting server name "${name}" on ${text}, ignored`);
      }
    }
  }
  return warnings;
}

/** Whether `key` was already in `set`; it is there afterwards either way (ngx_hash_add_key's NGX_BUSY). */
function claimed(set: Set<string>, key: string): boolean {
  if (set.has(key)) return true;
  set.add(key);
  return false;
}

export function planBindings(http: HttpConf): Binding[] {
  const bindings: Binding[] = [];
  const byText = serversByAddress(http);
  const index = (entry: AddressEntry): AddressServers => {
    const defaultServer =
      entry.servers.find((server) => server.listens.some((l) => l.text === entry.listen.text && l.defaultServer)) ??
      entry.servers[0]!;
    // As ngx_http_add_addresses(): an option any listen of the address has is the address's.
    const has = (option: "ssl" | "proxyProtocol" | "http2"): boolean =>
      entry.servers.some((server) => server.listens.some((l) => l.text === entry.listen.text && l[option]));
    const servers = indexServers(entry.servers, defaultServer);
    return {
      ...servers,
      ...(has("ssl") ? { ssl: true } : {}),
      ...(has("proxyProtocol") ? { proxyProtocol: true } : {}),
      ...(has("http2") ? { http2: true } : {}),
    };
  };
  const wildcards = new Map<string, Binding>();
  for (const entry of byText.values()) {
    if (entry.listen.host === "" || entry.listen.host === "::") {
      const binding: Binding = { listen: entry.listen, servers: index(entry), byLocalAddress: new Map() };
      wildcards.set(`${entry.listen.host === "" ? 4 : 6}:${entry.listen.port}`, binding);
      bindings.push(binding);
    }
  }
  for (const entry of byText.values()) {
    if (entry.listen.host === "" || entry.listen.host === "::") continue;
    const family = entry.listen.host.includes(":") ? 6 : 4;
    const wildcard = wildcards.get(`${family}:${entry.listen.port}`);
    if (wildcard) wildcard.byLocalAddress.set(entry.listen.host, index(entry));
    else {
      const binding = { listen: entry.listen, servers: index(entry), byLocalAddress: new Map() };
      bindings.push(isCanonicalIPv4(entry.listen.host) ? { ...binding, localAddress: entry.listen.host } : binding);
    }
  }
  return bindings;
}

/** "127.0.0.1", as Node reports a local address; not "localhost", nor an address written with leading zeros. */
function isCanonicalIPv4(host: string): boolean {
  const octets = host.split(".");
  return (
    octets.length === 4 &&
    octets.every((octet) => /^\d{1,3}$/.test(octet) && String(Number(octet)) === octet && Number(octet) < 256)
  );
}
