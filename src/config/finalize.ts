/**
 * From what the handlers recorded to the resolved model: every level merged
 * into the next by the modules (merge.ts, nginx's merge_*_conf), variables
 * linked, upstream addresses resolved.
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ConfigError, type SourcePlace } from "../core/errors.js";
import type { HttpBuild, LocationBuild, MainBuild, ServerBuild } from "./build-scope.js";
import type {
  HttpConf,
  ListenConf,
  LocConf,
  LocationConf,
  MainConf,
  ServerConf,
  SrvConf,
  UpstreamAddress,
  UpstreamConf,
} from "./model.js";
import { finalizeServers, httpLevel, mergeLoc, mergeMain, mergeSrv } from "./merge.js";
import type { Prefixes } from "./paths.js";
import { checkResolvableUpstreams, lookUpNameServers, runtimeName } from "./modules/resolver.js";
import { defaultUpstreamServer } from "./modules/upstream.js";
import { lookUpRealIpHosts } from "./modules/realip.js";
import { finalizeScript } from "./rewrite/finalize-script.js";
import { limitExceptOf } from "./modules/limit-except.js";
import { HTTP2_RECV_BUFFER_SIZE } from "./modules/http2.js";

export function finalizeMain(main: MainBuild, prefixes: Prefixes, defaultErrorLog?: string): MainConf {
  return mergeMain(main, { prefixes, defaultErrorLog });
}

export async function finalizeHttp(http: HttpBuild, prefixes: Prefixes, ticketKeys?: string): Promise<HttpConf> {
  http.registry.link();
  await lookUpNameServers(http);
  await lookUpRealIpHosts(http);
  const { loc: httpLoc, srv: httpSrv } = httpLevel(http, prefixes);
  const servers = http.servers.map((server) => finalizeServer(server, httpSrv, httpLoc));
  finalizeServers(servers, { http, ticketKeys });
  checkResolvableUpstreams(http);
  await resolveUpstreams(http);
  return {
    servers,
    upstreams: http.upstreams,
    logFormats: http.logFormats,
    variables: http.registry,
    loc: httpLoc,
    http2RecvBufferSize: http.http2RecvBufferSize ?? HTTP2_RECV_BUFFER_SIZE,
  };
}

function finalizeServer(server: ServerBuild, httpSrv: SrvConf, httpLoc: LocConf): ServerConf {
  const loc = mergeLoc(server.loc, httpLoc);
  const listens = server.listens.length > 0 ? server.listens : [defaultListen(server.place)];
  return {
    listens,
    names: server.names.length > 0 ? server.names : [""],
    srv: mergeSrv(server.srv, httpSrv),
    loc,
    locations: server.locations.map((location) => finalizeLocation(location, loc)),
    tryFiles: server.tryFiles,
    stubStatus: server.stubStatus,
    place: server.place,
    rewrite: finalizeScript(server.rewrite, undefined, loc),
  };
}

function finalizeLocation(location: LocationBuild, parent: LocConf): LocationConf {
  const loc = mergeLoc(location.loc, parent);
  return {
    modifier: location.modifier,
    path: location.path,
    regex: location.regex,
    loc,
    locations: location.locations.map((child) => finalizeLocation(child, loc)),
    proxyPass: location.proxyPass,
    ...(location.upstreamStatus ? { upstreamStatus: true } : {}),
    ...(location.dashboard ? { dashboard: true } : {}),
    ...(location.metrics ? { metrics: true } : {}),
    tryFiles: location.tryFiles,
    stubStatus: location.stubStatus,
    place: location.place,
    rewrite: finalizeScript(location.rewrite, location, loc),
    ...limitExcept(location, loc),
  };
}

/**
 * The limit_except block's level: its settings over the location's, the
 * location's proxy_pass unless it has its own. Not the location's rewrite
 * script: nginx's rewrite module does not inherit codes into it.
 */
function limitExcept(location: LocationBuild, loc: LocConf): Pick<LocationConf, "limitExcept"> {
  const limit = limitExceptOf(location);
  if (!limit) return {};
  const build = limit.build;
  const limited: LocationConf = {
    modifier: build.modifier,
    path: build.path,
    regex: build.regex,
    loc: mergeLoc(build.loc, loc),
    locations: [],
    proxyPass: build.proxyPass ?? location.proxyPass,
    place: build.place,
    noname: true,
  };
  return { limitExcept: { allowed: limit.allowed, location: limited } };
}

/** nginx listens on *:80 when a server has no `listen` (*:8000 when not started as root). */
function defaultListen(place: SourcePlace): ListenConf {
  const port = process.getuid?.() === 0 ? 80 : 8000;
  return { host: "", port, defaultServer: false, ipv6only: true, backlog: 511, text: `0.0.0.0:${port}`, place };
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
  for (const { name, place, impliedPort } of http.implicitUpstreams) {
    const [host, port] = splitName(name);
    const explicit = http.upstreams.get(host);
    if (explicit && !explicit.implicit) {
      if (port !== undefined && !impliedPort)
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
