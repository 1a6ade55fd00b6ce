/**
 * ngx_http_core_module's directives that wsgate implements: the http, server
 * and location blocks, listen and server_name, and the per-server and
 * per-location settings of connections and types.
 */

import { ConfigError, type SourcePlace } from "../../core/errors.js";
import { hostname } from "node:os";
import type { BuildScope, HttpBuild, LocationBuild, ServerBuild } from "../build-scope.js";
import type { ListenConf, LocConf, LocationModifier, ServerConf, SrvConf } from "../model.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, HTTP_MAIN_SRV, placeOf, type DirectiveSpec } from "../table.js";
import {
  configWarning,
  directiveError,
  locFlag,
  parseFlag,
  parseNumber,
  parseOffset,
  parseSize,
  parseTimeMs,
  setOnce,
  valueError,
} from "../values.js";
import { parseListen } from "./listen.js";
import { VariableRegistry } from "../../vars/registry.js";
import { registerHttpVariables } from "../../vars/http-variables.js";
import { COMBINED_FORMAT, LogFormat } from "../../log/format.js";
import { compileRegex } from "../regex.js";

/** ngx_http_core_module's per-location settings of connections and types. */
export interface CoreLocConf {
  keepaliveTimeoutMs: number;
  keepaliveHeaderSeconds: number | undefined;
  keepaliveRequests: number;
  /** keepalive_time: a connection older than this is not kept after the request in flight. */
  keepaliveTimeMs: number;
  sendTimeoutMs: number;
  clientBodyTimeoutMs: number;
  clientMaxBodySize: number;
  defaultType: string;
  types: ReadonlyMap<string, string>;
  /** `internal`: only internal redirects (error_page, try_files, index, rewrite) may use the location. */
  internal: boolean;
  sendfile: boolean;
  tcpNopush: boolean;
  tcpNodelay: boolean;
  serverTokens: "on" | "off" | "build";
  chunkedTransferEncoding: boolean;
  /** reset_timedout_connection: a connection closed on a timeout is reset (RST), not ended (FIN). */
  resetTimedoutConnection: boolean;
}

/** ngx_http_core_module's per-server settings of reading a request head. */
export interface CoreSrvConf {
  clientHeaderTimeoutMs: number;
  clientHeaderBufferSize: number;
  largeClientHeaderBuffers: { readonly count: number; readonly size: number };
  /** Only checked against large_client_header_buffers, as nginx checks it. */
  connectionPoolSize: number;
  /** Header lines a request may have (ignored ones do not count). */
  maxHeaders: number;
  ignoreInvalidHeaders: boolean;
  underscoresInHeaders: boolean;
  mergeSlashes: boolean;
}

/** nginx's built-in types when no `types` block is given. */
const DEFAULT_TYPES: ReadonlyMap<string, string> = new Map([
  ["html", "text/html"],
  ["gif", "image/gif"],
  ["jpg", "image/jpeg"],
]);

const HTTP_CORE_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "http",
    contexts: ["main"],
    args: [0],
    block: true,
    handle: (scope, node, walk) => {
      if (scope.main.http) throw directiveError(node, "is duplicate");
      const http = newHttp();
      http.end = { file: node.file, line: node.blockEnd ?? node.line };
      http.warnings = scope.main.warnings ??= [];
      scope.main.http = http;
      walk(node.block!, { ...scope, context: "http", http, loc: http.loc, srv: http.srv });
    },
  },
  {
    name: "server",
    contexts: ["http"],
    args: [0],
    block: true,
    handle: (scope, node, walk) => {
      const server: ServerBuild = { listens: [], names: [], srv: {}, loc: {}, locations: [], place: placeOf(node) };
      scope.http!.servers.push(server);
      walk(node.block!, { ...scope, context: "server", server, loc: server.loc, srv: server.srv });
    },
  },
  {
    name: "listen",
    contexts: ["server"],
    args: "1more",
    handle: (scope, node) => scope.server!.listens.push(parseListen(scope, node)),
  },
  {
    name: "server_name",
    contexts: ["server"],
    args: "1more",
    // nginx lower-cases names but not regexes (lower-casing would turn \D into \d); a regex is checked now,
    // and its named captures become variables.
    handle: (scope, node) => {
      for (const name of node.args) {
        checkServerName(scope, node, name);
        if (name.startsWith("~")) compileRegex(node, name.slice(1), /[A-Z]/.test(name), scope.http!.registry);
        // "$hostname" is the machine's name (nginx's cycle->hostname, lower-cased).
        const named = name.toLowerCase() === "$hostname" ? hostname() : name;
        scope.server!.names.push(name.startsWith("~") ? name : named.toLowerCase());
      }
    },
  },
  {
    name: "location",
    contexts: ["server", "location"],
    args: [1, 2],
    block: true,
    handle: (scope, node, walk) => {
      const location = newLocation(node, scope.location, scope.http!.registry);
      (scope.location ?? scope.server!).locations.push(location);
      walk(node.block!, { ...scope, context: "location", location, loc: location.loc, srv: undefined });
    },
  },
  locSlot("keepalive_timeout", [1, 2], (node, conf) => {
    setOnce(conf, "keepaliveTimeoutMs", parseTimeMs(node, node.args[0]!), node);
    if (node.args[1] !== undefined) conf.keepaliveHeaderSeconds = Math.floor(parseTimeMs(node, node.args[1]) / 1000);
  }),
  locSlot("keepalive_requests", [1], (node, conf) =>
    setOnce(conf, "keepaliveRequests", parseNumber(node, node.args[0]!), node),
  ),
  // nginx ≥ 1.19.10; the upstream block's keepalive_time (upstream.ts) is another row of the same name.
  locSlot("keepalive_time", [1], (node, conf) =>
    setOnce(conf, "keepaliveTimeMs", parseTimeMs(node, node.args[0]!), node),
  ),
  locSlot("send_timeout", [1], (node, conf) => setOnce(conf, "sendTimeoutMs", parseTimeMs(node, node.args[0]!), node)),
  locSlot("client_body_timeout", [1], (node, conf) =>
    setOnce(conf, "clientBodyTimeoutMs", parseTimeMs(node, node.args[0]!), node),
  ),
  locSlot("client_max_body_size", [1], (node, conf) =>
    setOnce(conf, "clientMaxBodySize", parseOffset(node, node.args[0]!), node),
  ),
  locSlot("default_type", [1], (node, conf) => setOnce(conf, "defaultType", node.args[0]!, node)),
  // ngx_http_core_internal(): location only, no arguments, "is duplicate" twice; nested locations inherit it.
  {
    name: "internal",
    contexts: ["location"],
    args: [0],
    handle: (scope, node) => setOnce(scope.loc!, "internal", true, node),
  },
  locFlag("sendfile", "sendfile"),
  locFlag("tcp_nopush", "tcpNopush"),
  locFlag("tcp_nodelay", "tcpNodelay"),
  locFlag("chunked_transfer_encoding", "chunkedTransferEncoding"),
  locFlag("reset_timedout_connection", "resetTimedoutConnection"),
  locSlot("server_tokens", [1], (node, conf) => {
    const value = node.args[0]!;
    if (value !== "on" && value !== "off" && value !== "build") {
      throw valueError(node, `invalid value "${value}" in "${node.name}" directive, it must be "on", "off" or "build"`);
    }
    setOnce(conf, "serverTokens", value, node);
  }),
  {
    name: "types",
    contexts: HTTP_CONTEXTS,
    args: [0],
    block: true,
    // A second `types` block at the same level adds to the first, as in nginx.
    handle: (scope, node) => {
      scope.loc!.types = parseTypes(node, new Map(scope.loc!.types ?? []));
    },
  },
  srvSlot("client_header_timeout", [1], (node, conf) =>
    setOnce(conf, "clientHeaderTimeoutMs", parseTimeMs(node, node.args[0]!), node),
  ),
  srvSlot("client_header_buffer_size", [1], (node, conf) =>
    setOnce(conf, "clientHeaderBufferSize", parseSize(node, node.args[0]!), node),
  ),
  srvSlot("connection_pool_size", [1], (node, conf) =>
    setOnce(conf, "connectionPoolSize", parsePoolSize(node, node.args[0]!), node),
  ),
  srvSlot("large_client_header_buffers", [2], (node, conf) => {
    const count = parseNumber(node, node.args[0]!);
    const size = parseSize(node, node.args[1]!);
    setOnce(conf, "largeClientHeaderBuffers", { count, size }, node);
  }),
  // From upstream nginx's denial-of-service fix, which Debian's 1.22 carries too; default 1000.
  srvSlot("max_headers", [1], (node, conf) => setOnce(conf, "maxHeaders", parseNumber(node, node.args[0]!), node)),
  srvFlag("ignore_invalid_headers", "ignoreInvalidHeaders"),
  srvFlag("underscores_in_headers", "underscoresInHeaders"),
  srvFlag("merge_slashes", "mergeSlashes"),
  // Sizes of nginx's fixed hash tables. wsgate's tables grow as needed, so the
  // value is checked as nginx checks it and has nothing else to set.
  ...["types_hash_max_size", "types_hash_bucket_size", "variables_hash_max_size", "variables_hash_bucket_size"].map(
    (name): DirectiveSpec => ({
      name,
      contexts: HTTP_CONTEXTS,
      args: [1],
      handle: (_scope, node) => void parseSize(node, node.args[0]!),
    }),
  ),
  ...["server_names_hash_max_size", "server_names_hash_bucket_size"].map((name): DirectiveSpec => ({
    name,
    contexts: ["http"],
    args: [1],
    handle: (_scope, node) => void parseSize(node, node.args[0]!),
  })),
];

export const HTTP_CORE_MODULE: ConfModule<CoreLocConf, CoreSrvConf> = {
  name: "ngx_http_core_module",
  directives: HTTP_CORE_DIRECTIVES,
  createLoc: () => ({
    keepaliveTimeoutMs: 75_000,
    keepaliveHeaderSeconds: undefined,
    keepaliveRequests: 1000,
    keepaliveTimeMs: 3_600_000,
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
    resetTimedoutConnection: false,
  }),
  createSrv: () => ({
    clientHeaderTimeoutMs: 60_000,
    clientHeaderBufferSize: 1024,
    largeClientHeaderBuffers: { count: 4, size: 8192 },
    // 64 * sizeof(void *) on a 64-bit platform.
    connectionPoolSize: 512,
    maxHeaders: 1000,
    ignoreInvalidHeaders: true,
    underscoresInHeaders: false,
    mergeSlashes: true,
  }),
  finalizeServers: (servers, { http }) => {
    checkHeaderBuffers(servers, http.end);
    checkDefaultServers(servers);
  },
};

/** ngx_http_core_merge_srv_conf(): a large header buffer must hold at least a connection pool's worth. */
function checkHeaderBuffers(servers: readonly ServerConf[], end: SourcePlace | undefined): void {
  for (const { srv } of servers) {
    if (srv.largeClientHeaderBuffers.size < srv.connectionPoolSize) {
      const message = `the "large_client_header_buffers" size must be equal to or greater than "connection_pool_size"`;
      throw new ConfigError("invalid-value", message, end);
    }
  }
}

/** ngx_http_add_listen(): one default server per address. */
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

/** ngx_http_core_server_name()'s checks: a wildcard needs "*." and a name, a leading dot a name. */
function checkServerName(scope: BuildScope, node: DirectiveNode, name: string): void {
  if ((name.startsWith("*") && (name.length < 3 || name[1] !== ".")) || (name.startsWith(".") && name.length < 2)) {
    throw valueError(node, `server name "${name}" is invalid`);
  }
  if (name.includes("/")) configWarning(scope, node, `server name "${name}" has suspicious symbols`);
}

function newHttp(): HttpBuild {
  const registry = new VariableRegistry();
  registerHttpVariables(registry);
  const logFormats = new Map([["combined", LogFormat.compile("combined", "default", COMBINED_FORMAT, registry)]]);
  return {
    registry,
    upstreams: new Map(),
    logFormats,
    servers: [],
    srv: {},
    loc: {},
    mapTargets: new Set(),
    implicitUpstreams: [],
    end: undefined,
  };
}

/** `location [=|~|~*|^~] uri` or `location @name`, after ngx_http_core_location(). */
function newLocation(
  node: DirectiveNode,
  parent: LocationBuild | undefined,
  registry: VariableRegistry,
): LocationBuild {
  const { modifier, path } = splitLocationArgs(node);
  if (parent) checkNesting(node, parent, modifier, path);
  const regex =
    modifier === "~" || modifier === "~*" ? compileRegex(node, path, modifier === "~*", registry) : undefined;
  return { modifier, path, regex, loc: {}, locations: [], place: placeOf(node) };
}

function splitLocationArgs(node: DirectiveNode): { modifier: LocationModifier; path: string } {
  const [first, second] = node.args as [string, string | undefined];
  if (second !== undefined) {
    if (first === "=" || first === "~" || first === "~*" || first === "^~") return { modifier: first, path: second };
    throw valueError(node, `invalid location modifier "${first}"`);
  }
  for (const modifier of ["=", "~*", "^~", "~"] as const) {
    if (first.startsWith(modifier) && first.length > modifier.length) {
      return { modifier, path: first.slice(modifier.length) };
    }
  }
  if (first.startsWith("@")) return { modifier: "@", path: first };
  return { modifier: "", path: first };
}

function checkNesting(node: DirectiveNode, parent: LocationBuild, modifier: LocationModifier, path: string): void {
  if (parent.modifier === "=") {
    throw valueError(node, `location "${path}" cannot be inside the exact location "${parent.path}"`);
  }
  if (parent.modifier === "@") {
    throw valueError(node, `location "${path}" cannot be inside the named location "${parent.path}"`);
  }
  if (modifier === "@") throw valueError(node, `named location "${path}" can be on the server level only`);
  const prefixed = modifier === "" || modifier === "=" || modifier === "^~";
  const parentPrefixed = parent.modifier === "" || parent.modifier === "^~";
  if (prefixed && parentPrefixed && !path.startsWith(parent.path)) {
    throw valueError(node, `location "${path}" is outside location "${parent.path}"`);
  }
}

function parseTypes(node: DirectiveNode, types: Map<string, string>): Map<string, string> {
  for (const entry of node.block!) {
    if (entry.error) throw entry.error;
    if (entry.name === "include") continue; // already expanded by the parser
    for (const extension of entry.args) {
      const key = extension.toLowerCase();
      // nginx gives a repeated extension the type named last (and warns about it).
      types.set(key, entry.name);
    }
  }
  if (types.size === 0 && node.block!.some((entry) => entry.args.length === 0)) {
    throw new ConfigError("arguments", `invalid number of arguments in "types" directive`, placeOf(node));
  }
  return types;
}

function locSlot(
  name: string,
  args: readonly number[],
  set: (node: DirectiveNode, conf: Partial<LocConf>) => void,
): DirectiveSpec {
  return { name, contexts: HTTP_CONTEXTS, args, handle: (scope, node) => set(node, scope.loc!) };
}

function srvSlot(
  name: string,
  args: readonly number[],
  set: (node: DirectiveNode, conf: Partial<SrvConf>) => void,
): DirectiveSpec {
  return { name, contexts: HTTP_MAIN_SRV, args, handle: (scope, node) => set(node, scope.srv!) };
}

function srvFlag(
  name: string,
  key: { [K in keyof SrvConf]: SrvConf[K] extends boolean ? K : never }[keyof SrvConf],
): DirectiveSpec {
  return {
    name,
    contexts: HTTP_MAIN_SRV,
    args: "flag",
    handle: (scope, node) => setOnce(scope.srv!, key, parseFlag(node, node.args[0]!), node),
  };
}

/** ngx_http_core_pool_size(): at least nginx's smallest pool (112 bytes on 64-bit), in steps of 16. */
function parsePoolSize(node: DirectiveNode, value: string): number {
  const size = parseSize(node, value);
  if (size < 112) throw valueError(node, "the pool size must be no less than 112");
  if (size % 16 !== 0) throw valueError(node, "the pool size must be a multiple of 16");
  return size;
}
