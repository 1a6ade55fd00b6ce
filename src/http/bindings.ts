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
}

export function planBindings(http: HttpConf): Binding[] {
  const bindings: Binding[] = [];
  const byText = new Map<string, { listen: ListenConf; servers: ServerConf[] }>();
  for (const server of http.servers) {
    for (const listen of server.listens) {
      const entry = byText.get(listen.text);
      if (entry) {
        if (!entry.servers.includes(server)) entry.servers.push(server);
        if (listen.defaultServer) entry.listen = listen;
      } else byText.set(listen.text, { listen, servers: [server] });
    }
  }
  const index = (entry: { listen: ListenConf; servers: ServerConf[] }): AddressServers => {
    const defaultServer =
      entry.servers.find((server) => server.listens.some((l) => l.text === entry.listen.text && l.defaultServer)) ??
      entry.servers[0]!;
    const ssl = entry.servers.some((server) => server.listens.some((l) => l.text === entry.listen.text && l.ssl));
    return ssl ? { ...indexServers(entry.servers, defaultServer), ssl } : indexServers(entry.servers, defaultServer);
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
    else bindings.push({ listen: entry.listen, servers: index(entry), byLocalAddress: new Map() });
  }
  return bindings;
}
