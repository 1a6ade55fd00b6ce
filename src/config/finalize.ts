/**
 * From what the handlers recorded to the resolved model: defaults applied,
 * every level merged into the next (nginx's merge_*_conf), variables linked,
 * upstream addresses resolved.
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ConfigError, type SourcePlace } from "./errors.js";
import type { HttpBuild, LocationBuild, MainBuild, ServerBuild } from "./build-scope.js";
import {
  inherit,
  type HttpConf,
  type ListenConf,
  type LocConf,
  type LocationConf,
  type MainConf,
  type ServerConf,
  type SrvConf,
  type UpstreamAddress,
  type UpstreamConf,
} from "./model.js";
import { resolveFromPrefix, type Prefixes } from "./paths.js";
import { checkResolvableUpstreams, lookUpNameServers, runtimeName } from "./modules/resolver.js";
import { defaultUpstreamServer } from "./modules/upstream.js";
import { STATIC_DEFAULTS } from "./modules/static.js";
import { SSL_DEFAULTS, finalizeSsl } from "./modules/ssl.js";
import { finalizeScript } from "../rewrite/finalize-script.js";

export function finalizeMain(main: MainBuild, prefixes: Prefixes, defaultErrorLog?: string): MainConf {
  return {
    daemon: main.daemon ?? true,
    masterProcess: main.masterProcess ?? true,
    workerProcesses: main.workerProcesses ?? 1,
    pid: main.pid ?? resolveFromPrefix(prefixes.prefix, "logs/nginx.pid"),
    errorLogs: main.errorLogs ?? [
      { path: defaultErrorLog ?? resolveFromPrefix(prefixes.prefix, "logs/error.log"), level: "error" },
    ],
    workerConnections: main.workerConnections ?? 512,
    workerShutdownTimeoutMs: main.workerShutdownTimeoutMs,
    workerRlimitNofile: main.workerRlimitNofile,
    user: main.user,
    wsgateCloseFrames: main.wsgateCloseFrames ?? false,
    wsgateShutdownDrainMs: main.wsgateShutdownDrainMs,
  };
}

const DEFAULT_SRV: SrvConf = {
  clientHeaderTimeoutMs: 60_000,
  clientHeaderBufferSize: 1024,
  largeClientHeaderBuffers: { count: 4, size: 8192 },
  // 64 * sizeof(void *) on a 64-bit platform.
  connectionPoolSize: 512,
  maxHeaders: 1000,
  ignoreInvalidHeaders: true,
  underscoresInHeaders: false,
  mergeSlashes: true,
  ...SSL_DEFAULTS,
};

/** nginx's built-in types when no `types` block is given. */
const DEFAULT_TYPES: ReadonlyMap<string, string> = new Map([
  ["html", "text/html"],
  ["gif", "image/gif"],
  ["jpg", "image/jpeg"],
]);

function defaultLoc(http: HttpBuild, prefixes: Prefixes): LocConf {
  return {
    proxyHttpVersion: "1.0",
    proxySetHeaders: [],
    proxyConnectTimeoutMs: 60_000,
    proxyReadTimeoutMs: 60_000,
    proxySendTimeoutMs: 60_000,
    proxyBuffering: true,
    proxyRequestBuffering: true,
    // Two memory pages, as nginx on x86-64.
    clientBodyBufferSize: 8192,
    clientBodyTempPath: { path: resolveFromPrefix(prefixes.prefix, "client_body_temp"), levels: [] },
    proxyPassRequestHeaders: true,
    proxyPassRequestBody: true,
    proxyHideHeaders: [],
    proxyPassHeaders: [],
    accessLogs: [
      {
        path: resolveFromPrefix(prefixes.prefix, "logs/access.log"),
        format: http.logFormats.get("combined")!,
        bufferBytes: 0,
        flushMs: 0,
        condition: undefined,
      },
    ],
    errorLogs: undefined,
    keepaliveTimeoutMs: 75_000,
    keepaliveHeaderSeconds: undefined,
    keepaliveRequests: 1000,
    sendTimeoutMs: 60_000,
    clientBodyTimeoutMs: 60_000,
    clientMaxBodySize: 1024 * 1024,
    defaultType: "text/plain",
    types: DEFAULT_TYPES,
    internal: false,
    sendfile: false,
    tcpNopush: false,
    tcpNodelay: true,
    serverTokens: "on",
    chunkedTransferEncoding: true,
    proxyNextUpstream: new Set(["error", "timeout"]),
    proxyNextUpstreamTries: 0,
    proxyNextUpstreamTimeoutMs: 0,
    ...STATIC_DEFAULTS,
    root: { alias: 0, path: resolveFromPrefix(prefixes.prefix, "html"), prefix: prefixes.prefix },
    rewriteLog: false,
    uninitializedVariableWarn: true,
    addHeaders: [],
    accessRules: [],
    errorPages: [],
    recursiveErrorPages: false,
    absoluteRedirect: true,
    portInRedirect: true,
    serverNameInRedirect: false,
    proxyInterceptErrors: false,
    proxyRedirects: undefined,
    resolver: undefined,
    resolverTimeoutMs: 30_000,
  };
}

export async function finalizeHttp(http: HttpBuild, prefixes: Prefixes, ticketKeys?: string): Promise<HttpConf> {
  http.registry.link();
  await lookUpNameServers(http);
  const httpLoc = inherit(http.loc, defaultLoc(http, prefixes));
  const httpSrv = inherit(http.srv, DEFAULT_SRV);
  const servers = http.servers.map((server) => finalizeServer(server, httpSrv, httpLoc));
  checkHeaderBuffers(servers, http.end);
  checkDefaultServers(servers);
  finalizeSsl(servers, ticketKeys);
  checkResolvableUpstreams(http);
  await resolveUpstreams(http);
  return { servers, upstreams: http.upstreams, logFormats: http.logFormats, variables: http.registry, loc: httpLoc };
}

function finalizeServer(server: ServerBuild, httpSrv: SrvConf, httpLoc: LocConf): ServerConf {
  const loc = inherit(server.loc, httpLoc);
  const listens = server.listens.length > 0 ? server.listens : [defaultListen(server.place)];
  return {
    listens,
    names: server.names.length > 0 ? server.names : [""],
    srv: inherit(server.srv, httpSrv),
    loc,
    locations: server.locations.map((location) => finalizeLocation(location, loc)),
    tryFiles: server.tryFiles,
    stubStatus: server.stubStatus,
    place: server.place,
    rewrite: finalizeScript(server.rewrite, undefined, loc),
  };
}

function finalizeLocation(location: LocationBuild, parent: LocConf): LocationConf {
  const loc = inherit(location.loc, parent);
  return {
    modifier: location.modifier,
    path: location.path,
    regex: location.regex,
    loc,
    locations: location.locations.map((child) => finalizeLocation(child, loc)),
    proxyPass: location.proxyPass,
    ...(location.upstreamStatus ? { upstreamStatus: true } : {}),
    tryFiles: location.tryFiles,
    stubStatus: location.stubStatus,
    place: location.place,
    rewrite: finalizeScript(location.rewrite, location, loc),
  };
}

/** ngx_http_core_merge_srv_conf(): a large header buffer must hold at least a connection pool's worth. */
function checkHeaderBuffers(servers: readonly ServerConf[], end: SourcePlace | undefined): void {
  for (const { srv } of servers) {
    if (srv.largeClientHeaderBuffers.size < srv.connectionPoolSize) {
      const message = `the "large_client_header_buffers" size must be equal to or greater than "connection_pool_size"`;
      throw new ConfigError("invalid-value", message, end);
    }
  }
}

/** nginx listens on *:80 when a server has no `listen` (*:8000 when not started as root). */
function defaultListen(place: SourcePlace): ListenConf {
  const port = process.getuid?.() === 0 ? 80 : 8000;
  return { host: "", port, defaultServer: false, ipv6only: true, backlog: 511, text: `0.0.0.0:${port}`, place };
}

function checkDefaultServers(servers: readonly ServerConf[]): void {
  const defaults = new Map<string, ListenConf>();
  for (const server of servers) {
    for (const listen of server.listens) {
      if (!listen.defaultServer) continue;
      if (defaults.has(listen.text)) {
        throw new ConfigError("duplicate", `a duplicate default server for ${listen.text}`, listen.place);
      }
      defaults.set(listen.text, listen);
    }
  }
}

async function resolveUpstreams(http: HttpBuild): Promise<void> {
  for (const group of http.upstreams.values()) {
    for (let i = 0; i < group.servers.length; i++) {
      const server = group.servers[i]!;
      // `resolve`: a host name is looked up at run time only (src/upstream/re-resolve.ts); its port is checked now.
      const atRunTime = server.resolve ? runtimeName(server.name) : undefined;
      if (atRunTime && !(atRunTime.port >= 1 && atRunTime.port <= 65535)) {
        throw new ConfigError("invalid-value", `invalid port in upstream "${server.name}"`, server.place);
      }
      const addresses = atRunTime ? [] : await resolveAddress(server.name, server.place, true);
      group.servers[i] = { ...server, addresses };
    }
  }
  for (const { name, place } of http.implicitUpstreams) {
    const [host, port] = splitName(name);
    const explicit = http.upstreams.get(host);
    if (explicit && !explicit.implicit) {
      if (port !== undefined)
        throw new ConfigError("invalid-value", `upstream "${host}" may not have port ${port}`, place);
      continue;
    }
    if (http.upstreams.has(name)) continue;
    // nginx names an implicit group by its host alone in "host not found in upstream".
    const address = port !== undefined || name.startsWith("unix:") ? name : `${host}:80`;
    const addresses = await resolveAddress(address, place, false, host);
    const group: UpstreamConf = {
      name,
      servers: [{ ...defaultUpstreamServer(name, place), addresses }],
      implicit: true,
      place,
    };
    http.upstreams.set(name, group);
  }
}

function splitName(name: string): [string, string | undefined] {
  const bracket = name.lastIndexOf("]");
  const colon = name.lastIndexOf(":");
  if (colon > bracket && !name.startsWith("unix:")) return [name.slice(0, colon), name.slice(colon + 1)];
  return [name, undefined];
}

/** "host[:port]" or "unix:/path" to addresses; hostnames through the system resolver, as nginx at load time. */
async function resolveAddress(
  name: string,
  place: SourcePlace,
  inUpstreamBlock: boolean,
  shownName = name,
): Promise<UpstreamAddress[]> {
  if (name.startsWith("unix:")) return [{ kind: "unix", path: name.slice(5), text: name }];
  const [rawHost, portText] = splitName(name);
  const port = portText === undefined ? 80 : Number(portText);
  if (portText !== undefined && (!/^\d+$/.test(portText) || port < 1 || port > 65535)) {
    throw new ConfigError("invalid-value", `invalid port in upstream "${name}"`, place);
  }
  const host = rawHost.startsWith("[") ? rawHost.slice(1, -1) : rawHost;
  if (isIP(host)) return [inet(host, port)];
  try {
    const found = await lookup(host, { all: true });
    return found.map((entry) => inet(entry.address, port));
  } catch {
    const message = inUpstreamBlock
      ? `host not found in upstream "${name}"`
      : `host not found in upstream "${shownName}"`;
    throw new ConfigError("host-not-found", message, place);
  }
}

function inet(host: string, port: number): UpstreamAddress {
  return { kind: "inet", host, port, text: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}
