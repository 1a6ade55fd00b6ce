/**
 * Choosing the server block for a request on one listening address, as
 * nginx's virtual-server lookup: exact name, then the longest wildcard
 * starting with "*", then the longest ending with "*", then the first
 * matching regex, else the address's default server (`default_server`, or
 * the first server listed for it).
 */

import type { ServerConf } from "../config/model.js";
import { pcreRegex } from "../config/regex.js";

export interface AddressServers {
  readonly defaultServer: ServerConf;
  readonly exact: ReadonlyMap<string, ServerConf>;
  readonly leading: ReadonlyArray<readonly [suffix: string, server: ServerConf]>;
  readonly trailing: ReadonlyArray<readonly [prefix: string, server: ServerConf]>;
  readonly regexes: ReadonlyArray<readonly [regex: RegExp, server: ServerConf]>;
  /** A `listen … ssl` names this address: its connections speak TLS. */
  readonly ssl?: boolean;
  /** A `listen … proxy_protocol` names this address: its connections start with a PROXY header. */
  readonly proxyProtocol?: boolean;
  /** A `listen … http2` names this address (nginx's addr_conf->http2): HTTP/2 whatever its servers' `http2`. */
  readonly http2?: boolean;
}

export function indexServers(servers: readonly ServerConf[], defaultServer: ServerConf): AddressServers {
  const exact = new Map<string, ServerConf>();
  const leading: Array<[string, ServerConf]> = [];
  const trailing: Array<[string, ServerConf]> = [];
  const regexes: Array<[RegExp, ServerConf]> = [];
  for (const server of servers) {
    for (const name of server.names) {
      if (name.startsWith("~")) regexes.push([serverNameRegex(name.slice(1)), server]);
      else if (name.startsWith("*.")) leading.push([name.slice(1), server]);
      else if (name.startsWith(".")) {
        // ".example.com" is "example.com" and "*.example.com" at once; nginx ignores all of it when
        // "example.com" is already taken on the address (a "conflicting server name" warning).
        if (exact.has(name.slice(1))) continue;
        exact.set(name.slice(1), server);
        leading.push([name, server]);
      } else if (name.endsWith(".*")) trailing.push([name.slice(0, -1), server]);
      else if (!exact.has(name)) exact.set(name, server);
    }
  }
  leading.sort((a, b) => b[0].length - a[0].length);
  trailing.sort((a, b) => b[0].length - a[0].length);
  return { defaultServer, exact, leading, trailing, regexes };
}

/** nginx compiles a server_name regex caseless when its source has an upper-case letter (hosts are lower-cased). */
function serverNameRegex(source: string): RegExp {
  return pcreRegex(source, /[A-Z]/.test(source));
}

export function selectServer(
  index: AddressServers,
  host: string,
): { server: ServerConf; captures?: string[]; match?: RegExpExecArray } {
  // ngx_http_find_virtual_server(): no Host looks up the name "" (a server without server_name has it), no regexes.
  if (host === "") return { server: index.exact.get("") ?? index.defaultServer };
  const exact = index.exact.get(host);
  if (exact) return { server: exact };
  for (const [suffix, server] of index.leading) if (host.endsWith(suffix)) return { server };
  for (const [prefix, server] of index.trailing) if (host.startsWith(prefix)) return { server };
  for (const [regex, server] of index.regexes) {
    const match = regex.exec(host);
    if (match) return { server, captures: Array.from(match, (group) => group ?? ""), match };
  }
  return { server: index.defaultServer };
}
