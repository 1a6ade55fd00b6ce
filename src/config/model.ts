/**
 * The configuration as the server uses it: plain data, every value resolved.
 *
 * The per-level settings are assembled from the modules' slices
 * (src/config/modules/index.ts): LocConf (what a location may set and
 * inherit), SrvConf (per server) and MainConf (the process). Each module file
 * declares its slice, its defaults and its merge; merge.ts builds the levels.
 * The shapes of the values (ProxyPass, AccessRule …) live beside the directives
 * that make them and are re-exported here, so readers import from one place.
 * Settings nginx does not inherit (proxy_pass, return) live on the
 * LocationConf itself.
 */

import type { SecureContext } from "node:tls";
import type { SourcePlace } from "../core/errors.js";
import type { VariableRegistry } from "../vars/registry.js";
import type { LogFormat } from "../log/format.js";
import type { RewriteCode } from "./rewrite/script.js";
import type { LocConf, MainConf, SrvConf } from "./modules/index.js";
import type { ListenConf } from "./modules/listen.js";
import type { ProxyPass } from "./modules/proxy.js";
import type { TryFiles } from "./modules/static.js";
import type { UpstreamConf } from "./modules/upstream.js";

export type { LocConf, SrvConf, MainConf } from "./modules/index.js";
export type { ListenConf } from "./modules/listen.js";
export type { HeaderSetting, NextUpstreamCondition, ProxyPass } from "./modules/proxy.js";
export type { ProxyRedirect } from "./modules/proxy-response.js";
export type { AccessRule } from "./modules/access.js";
export type { AddHeader, ErrorPage } from "./modules/headers.js";
export type { AccessLogTarget } from "./modules/log.js";
export type { DocumentRoot, IndexName, TryFiles } from "./modules/static.js";
export type { TempPath } from "./modules/request-body.js";
export type { SizeValue } from "./modules/limit-rate.js";
export type { ResolverConf } from "./modules/resolver.js";
export type { SslSrvConf } from "./modules/ssl.js";
export type {
  UpstreamAddress,
  UpstreamBalancing,
  UpstreamConf,
  UpstreamKeepaliveConf,
  UpstreamServerConf,
} from "./modules/upstream.js";
export type { HealthCheckConf } from "./modules/health-check.js";

export { LOG_LEVELS, type ErrorLogTarget, type LogLevel } from "../log/levels.js";

export type LocationModifier = "" | "=" | "^~" | "~" | "~*" | "@";

export interface LocationConf {
  readonly modifier: LocationModifier;
  readonly path: string;
  readonly regex: RegExp | undefined;
  loc: LocConf;
  readonly locations: LocationConf[];
  proxyPass: ProxyPass | undefined;
  /** wsgate_upstream_status: the location answers with the upstreams' state. */
  readonly upstreamStatus?: boolean;
  /** wsgate_dashboard: the location serves the live dashboard of the server's figures. */
  readonly dashboard?: boolean;
  /** wsgate_metrics: the location answers with the metrics in Prometheus' text format. */
  readonly metrics?: boolean;
  /** Not inherited, as nginx's try_files and stub_status. */
  tryFiles?: TryFiles | undefined;
  stubStatus?: boolean | undefined;
  readonly place: SourcePlace;
  /** The location's rewrite script (rewrite phase); undefined when it has none. */
  readonly rewrite?: readonly RewriteCode[] | undefined;
  /** An `if` block's level: same name as the enclosing location, no locations of its own. */
  readonly noname?: boolean;
  /** limit_except: the methods let through, and the block's level that serves the others. */
  readonly limitExcept?: { readonly allowed: ReadonlySet<string>; readonly location: LocationConf } | undefined;
}

export interface ServerConf {
  readonly listens: ListenConf[];
  readonly names: string[];
  srv: SrvConf;
  loc: LocConf;
  readonly locations: LocationConf[];
  /** try_files and stub_status at server level: in force where no location matches. */
  tryFiles?: TryFiles | undefined;
  stubStatus?: boolean | undefined;
  readonly place: SourcePlace;
  /** The server's rewrite script (server rewrite phase); undefined when it has none. */
  readonly rewrite?: readonly RewriteCode[] | undefined;
  /** Its TLS context (certificates, protocols, ciphers), when it has ssl_certificate. */
  secureContext?: SecureContext | undefined;
}

export interface HttpConf {
  readonly servers: ServerConf[];
  readonly upstreams: Map<string, UpstreamConf>;
  readonly logFormats: Map<string, LogFormat>;
  readonly variables: VariableRegistry;
  /** The http level's own settings (its access_log files are opened even when every server overrides them). */
  readonly loc: LocConf;
  /** http2_recv_buffer_size: the buffer an HTTP/2 connection reads frames into (nginx's per-worker buffer). */
  readonly http2RecvBufferSize: number;
}

export interface Config {
  /** The main configuration file, absolute. */
  readonly file: string;
  readonly prefix: string;
  readonly confPrefix: string;
  readonly main: MainConf;
  readonly http: HttpConf | undefined;
  /** Every file read, for `-T`. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly text: string }>;
  /** Warnings of the directives, as read (nginx's words, with their place). */
  readonly warnings: readonly string[];
}

/** nginx's merge: what a level left unset comes from the level around it. */
export function inherit<T extends object>(own: Partial<T>, parent: T): T {
  const merged = { ...parent };
  for (const key of Object.keys(own) as Array<keyof T>) {
    const value = own[key];
    if (value !== undefined) merged[key] = value as T[keyof T];
  }
  return merged;
}
