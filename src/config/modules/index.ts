/**
 * The modules of the configuration, in nginx's order of modules: the order of
 * their directive rows (a name with several rows takes the first allowed in
 * its context), of their defaults and of their checks after merging.
 *
 * LocConf, SrvConf and MainConf are the modules' slices put together; a
 * module added here adds its slices to the types below (checked at compile
 * time: the list and the types must name the same slices).
 */

import type { ConfModule } from "../module.js";
import { ACCESS_MODULE, type AccessLocConf } from "./access.js";
import { AUTH_BASIC_MODULE, type AuthBasicLocConf } from "./auth-basic.js";
import { WSGATE_ORIGIN_MODULE, type WsgateOriginLocConf } from "./wsgate-origin.js";
import { AUTH_JWT_MODULE, type AuthJwtLocConf } from "./auth-jwt.js";
import { AUTH_REQUEST_MODULE, type AuthRequestLocConf } from "./auth-request.js";
import { CHARSET_MODULE, type CharsetLocConf } from "./charset.js";
import { CORE_MODULE, type CoreMainConf } from "./core.js";
import { GZIP_MODULE, type GzipLocConf } from "./gzip.js";
import { HEADERS_MODULE, type HeadersLocConf } from "./headers.js";
import { HTTP_CORE_MODULE, type CoreLocConf, type CoreSrvConf } from "./http-core.js";
import { HTTP2_MODULE, type Http2LocConf, type Http2SrvConf } from "./http2.js";
import { LIMIT_EXCEPT_MODULE } from "./limit-except.js";
import { LIMIT_RATE_MODULE, type LimitRateLocConf } from "./limit-rate.js";
import { LIMIT_CONN_MODULE, type LimitConnLocConf } from "./limit-conn.js";
import { LIMIT_REQ_MODULE, type LimitReqLocConf } from "./limit-req.js";
import { SHARED_ZONES_MODULE, type SharedZonesMainConf } from "./shared-zones.js";
import { LOG_MODULE, type LogLocConf } from "./log.js";
import { MAP_MODULE } from "./map.js";
import { PROXY_BUFFERS_MODULE, type ProxyBuffersLocConf } from "./proxy-buffers.js";
import { PROXY_CACHE_MODULE, type ProxyCacheLocConf } from "./proxy-cache.js";
import { PROXY_REQUEST_MODULE, type ProxyRequestLocConf } from "./proxy-request.js";
import { PROXY_RESPONSE_MODULE, type ProxyResponseLocConf } from "./proxy-response.js";
import { REALIP_MODULE, type RealipLocConf } from "./realip.js";
import { PROXY_MODULE, type ProxyLocConf } from "./proxy.js";
import { PROXY_SSL_MODULE, type ProxySslLocConf } from "./proxy-ssl.js";
import { REQUEST_BODY_MODULE, type RequestBodyLocConf } from "./request-body.js";
import { RESOLVER_MODULE, type ResolverLocConf } from "./resolver.js";
import { REWRITE_MODULE, type RewriteLocConf } from "./rewrite.js";
import { SSL_MODULE, type SslSrvConf } from "./ssl.js";
import { SSL_STAPLING_MODULE, type SslStaplingSrvConf } from "./ssl-stapling.js";
import { STATIC_MODULE, type StaticLocConf } from "./static.js";
import { TUNING_MODULE } from "./tuning.js";
import { UPSTREAM_STATUS_MODULE } from "./upstream-status.js";
import { DASHBOARD_MODULE } from "./dashboard.js";
import { WSGATE_METRICS_MODULE } from "./wsgate-metrics.js";
import { UPSTREAM_MODULE } from "./upstream.js";
import { WEBSOCKET_MODULE, type WebSocketLocConf } from "./websocket.js";
import { WSGATE_PROCESS_MODULE, type WsgateProcessMainConf } from "./wsgate-process.js";

export const MODULES = [
  CORE_MODULE,
  HTTP_CORE_MODULE,
  LOG_MODULE,
  MAP_MODULE,
  PROXY_MODULE,
  STATIC_MODULE,
  ACCESS_MODULE,
  RESOLVER_MODULE,
  UPSTREAM_MODULE,
  UPSTREAM_STATUS_MODULE,
  DASHBOARD_MODULE,
  WSGATE_METRICS_MODULE,
  WSGATE_PROCESS_MODULE,
  REWRITE_MODULE,
  HEADERS_MODULE,
  PROXY_RESPONSE_MODULE,
  REQUEST_BODY_MODULE,
  PROXY_CACHE_MODULE,
  SSL_MODULE,
  PROXY_BUFFERS_MODULE,
  REALIP_MODULE,
  TUNING_MODULE,
  PROXY_SSL_MODULE,
  SSL_STAPLING_MODULE,
  PROXY_REQUEST_MODULE,
  LIMIT_EXCEPT_MODULE,
  GZIP_MODULE,
  CHARSET_MODULE,
  AUTH_BASIC_MODULE,
  WSGATE_ORIGIN_MODULE,
  AUTH_JWT_MODULE,
  AUTH_REQUEST_MODULE,
  LIMIT_RATE_MODULE,
  HTTP2_MODULE,
  WEBSOCKET_MODULE,
  SHARED_ZONES_MODULE,
  LIMIT_CONN_MODULE,
  LIMIT_REQ_MODULE,
] as const satisfies readonly ConfModule[];

/** Everything a location may set and inherit. */
export type LocConf = CoreLocConf &
  LogLocConf &
  ProxyLocConf &
  StaticLocConf &
  AccessLocConf &
  ResolverLocConf &
  RewriteLocConf &
  HeadersLocConf &
  ProxyResponseLocConf &
  RequestBodyLocConf &
  ProxyCacheLocConf &
  ProxyBuffersLocConf &
  RealipLocConf &
  ProxySslLocConf &
  ProxyRequestLocConf &
  GzipLocConf &
  CharsetLocConf &
  AuthBasicLocConf &
  WsgateOriginLocConf &
  AuthJwtLocConf &
  AuthRequestLocConf &
  LimitRateLocConf &
  Http2LocConf &
  WebSocketLocConf &
  LimitConnLocConf &
  LimitReqLocConf;

/** Everything a server may set and inherit from the http block. */
export type SrvConf = CoreSrvConf & SslSrvConf & SslStaplingSrvConf & Http2SrvConf;

/** The process's settings (main and events contexts). */
export type MainConf = CoreMainConf & WsgateProcessMainConf & SharedZonesMainConf;

type Modules = (typeof MODULES)[number];
type Slices<Level extends 0 | 1 | 2> = Modules extends infer M
  ? M extends ConfModule<infer Loc, infer Srv, infer Main>
    ? [Loc, Srv, Main][Level]
    : never
  : never;
type Intersection<U> = (U extends unknown ? (slice: U) => void : never) extends (slice: infer I) => void ? I : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// A slice in the types above without its module in MODULES (or the other way round) fails here.
const slicesMatch: [
  Same<LocConf, Intersection<Slices<0>>>,
  Same<SrvConf, Intersection<Slices<1>>>,
  Same<MainConf, Intersection<Slices<2>>>,
] = [true, true, true];
void slicesMatch;
