/**
 * What directive handlers write into while the configuration is read: one
 * record per level, holding only what that level sets. finalize.ts turns it
 * into the resolved model.
 */

import type { SourcePlace } from "../core/errors.js";
import type { Context } from "./table.js";
import type {
  ErrorLogTarget,
  ListenConf,
  LocConf,
  LocationModifier,
  MainConf,
  ProxyPass,
  SrvConf,
  TryFiles,
  UpstreamConf,
} from "./model.js";
import type { Prefixes } from "./paths.js";
import type { VariableRegistry } from "../vars/registry.js";
import type { LogFormat } from "../log/format.js";
import type { BuildCode } from "./rewrite/compile.js";

export interface MainBuild extends Partial<Omit<MainConf, "errorLogs">> {
  errorLogs?: ErrorLogTarget[];
  /** Warnings met while reading, in nginx's words with their place (Config.warnings). */
  warnings?: string[];
  eventsSeen?: boolean;
  http?: HttpBuild;
}

export interface HttpBuild {
  readonly registry: VariableRegistry;
  readonly upstreams: Map<string, UpstreamConf>;
  readonly logFormats: Map<string, LogFormat>;
  readonly servers: ServerBuild[];
  readonly srv: Partial<SrvConf>;
  readonly loc: Partial<LocConf>;
  /** Variables defined by `map` (their targets), to refuse a second definition. */
  readonly mapTargets: Set<string>;
  /** Literal `proxy_pass` hosts, resolved into implicit upstreams after reading. */
  readonly implicitUpstreams: Array<{
    readonly name: string;
    readonly place: SourcePlace;
    /** https:// without a port: the name carries :443, which a named upstream does not refuse. */
    readonly impliedPort?: boolean;
  }>;
  /** The main level's warnings (the same list): merge steps add theirs, without a place (cf->log). */
  warnings?: string[];
  /** http2_recv_buffer_size (http level only, as nginx's ngx_http_v2_main_conf_t). */
  http2RecvBufferSize?: number;
  /** The http block's closing "}", where nginx reports the checks it makes when merging servers. */
  end: SourcePlace | undefined;
}

export interface ServerBuild {
  readonly listens: ListenConf[];
  readonly names: string[];
  readonly srv: Partial<SrvConf>;
  readonly loc: Partial<LocConf>;
  readonly locations: LocationBuild[];
  tryFiles?: TryFiles;
  stubStatus?: boolean;
  readonly place: SourcePlace;
  /** The server's rewrite-module directives (server rewrite phase). */
  rewrite?: BuildCode[];
}

export interface LocationBuild {
  readonly modifier: LocationModifier;
  readonly path: string;
  readonly regex: RegExp | undefined;
  readonly loc: Partial<LocConf>;
  readonly locations: LocationBuild[];
  proxyPass?: ProxyPass;
  /** wsgate_upstream_status. */
  upstreamStatus?: boolean;
  /** wsgate_dashboard. */
  dashboard?: boolean;
  /** wsgate_metrics. */
  metrics?: boolean;
  tryFiles?: TryFiles;
  stubStatus?: boolean;
  readonly place: SourcePlace;
  /** The location's rewrite-module directives (rewrite phase). */
  rewrite?: BuildCode[];
  /** An `if` block's own level (nginx's unnamed location). */
  readonly noname?: boolean;
}

export interface BuildScope {
  readonly context: Context;
  readonly prefixes: Prefixes;
  readonly main: MainBuild;
  readonly http?: HttpBuild;
  readonly server?: ServerBuild;
  readonly location?: LocationBuild;
  /** The per-location settings of the current level (http, server, location). */
  readonly loc?: Partial<LocConf>;
  /** The per-server settings of the current level (http, server). */
  readonly srv?: Partial<SrvConf>;
  readonly upstream?: UpstreamConf;
}

/** The http block's level, then each server's and each location's (nested ones too), in the file's order. */
export function locationLevels(http: HttpBuild): Array<Partial<LocConf>> {
  const levels: Array<Partial<LocConf>> = [http.loc];
  const walk = (locations: readonly LocationBuild[]): void => {
    for (const location of locations) {
      levels.push(location.loc);
      walk(location.locations);
    }
  };
  for (const server of http.servers) {
    levels.push(server.loc);
    walk(server.locations);
  }
  return levels;
}

/** A level of its own inside a location, under the location's name (nginx's noname: `if`, `limit_except`). */
export function unnamedLocation(parent: LocationBuild, place: SourcePlace): LocationBuild {
  return {
    modifier: parent.modifier,
    path: parent.path,
    regex: parent.regex,
    loc: {},
    locations: [],
    place,
    noname: true,
  };
}
