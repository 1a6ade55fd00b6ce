/**
 * ngx_http_v2_module's directives as nginx 1.28 has them (its ngx_command_t
 * rows, defaults, merges, post-handler checks and words), and wsgate's own
 * `wsgate_http2_websocket`, which offers WebSocket over HTTP/2 (RFC 8441:
 * SETTINGS_ENABLE_CONNECT_PROTOCOL and extended CONNECT).
 *
 * nginx 1.28 still reads http2_pool_size and http2_streams_index_size and
 * checks their values; they size nginx's own memory pools and stream table,
 * which Node's http2 does not have, so they are checked here and set nothing.
 * The rest of the old directives are obsolete: a warning, and nothing else
 * (the server-push ones since 1.25.1, the timeouts and header limits since
 * 1.19.7, with the directive that replaced them).
 */

import type { BuildScope } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, HTTP_MAIN_SRV, type Arity, type Context, type DirectiveSpec } from "../table.js";
import { configWarning, directiveError, parseFlag, parseNumber, parseSize, valueError } from "../values.js";

/** The per-server settings (ngx_http_v2_srv_conf_t), with wsgate's RFC 8441 switch. */
export interface Http2SrvConf {
  /** `http2 on`: HTTP/2 on this server's connections (besides a `listen … http2` of its address). */
  http2: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS. */
  http2MaxConcurrentStreams: number;
  /** Bytes of a request body read before the request is processed (the stream's initial window). */
  http2BodyPrereadSize: number;
  /** wsgate_http2_websocket: advertise SETTINGS_ENABLE_CONNECT_PROTOCOL and accept extended CONNECT. */
  wsgateHttp2Websocket: boolean;
}

/** The per-location setting (ngx_http_v2_loc_conf_t). */
export interface Http2LocConf {
  /** The largest DATA frame of a response body (at most 2^24-1, nginx's NGX_HTTP_V2_MAX_FRAME_SIZE). */
  http2ChunkSize: number;
}

/** http2_recv_buffer_size's default (ngx_http_v2_init_main_conf): the http level's, read once per worker. */
export const HTTP2_RECV_BUFFER_SIZE = 256 * 1024;

/** NGX_HTTP_V2_STATE_BUFFER_SIZE: the receive buffer must be larger. */
const STATE_BUFFER_SIZE = 16;
/** NGX_HTTP_V2_MAX_WINDOW: 2^31-1. */
const MAX_WINDOW = 2 ** 31 - 1;
/** NGX_HTTP_V2_MAX_FRAME_SIZE: 2^24-1. */
const MAX_FRAME_SIZE = 2 ** 24 - 1;
/** NGX_MIN_POOL_SIZE and NGX_POOL_ALIGNMENT of a 64-bit nginx (what Debian's nginx -t reports). */
const MIN_POOL_SIZE = 112;
const POOL_ALIGNMENT = 16;

/** What each level set of the directives that record nothing, for their "is duplicate" (per level record). */
const seen = new WeakMap<object, Set<string>>();

const HTTP2_DIRECTIVES: readonly DirectiveSpec[] = [
  srvRow("http2", "flag", (node, conf) => {
    once(node, conf.http2);
    conf.http2 = parseFlag(node, node.args[0]!);
  }),
  {
    name: "http2_recv_buffer_size",
    contexts: ["http"],
    args: [1],
    handle: (scope, node) => {
      const http = scope.http!;
      once(node, http.http2RecvBufferSize);
      const size = parseSize(node, node.args[0]!);
      if (size <= STATE_BUFFER_SIZE) throw directiveError(node, "value is too small");
      http.http2RecvBufferSize = size;
    },
  },
  srvRow("http2_pool_size", [1], (node, conf) => {
    once(node, seenIn(conf, node.name));
    const size = parseSize(node, node.args[0]!);
    if (size < MIN_POOL_SIZE) throw valueError(node, `the pool size must be no less than ${MIN_POOL_SIZE}`);
    if (size % POOL_ALIGNMENT !== 0) throw valueError(node, `the pool size must be a multiple of ${POOL_ALIGNMENT}`);
  }),
  srvRow("http2_max_concurrent_streams", [1], (node, conf) => {
    once(node, conf.http2MaxConcurrentStreams);
    conf.http2MaxConcurrentStreams = parseNumber(node, node.args[0]!);
  }),
  obsolete("http2_max_concurrent_pushes", HTTP_MAIN_SRV, [1]),
  obsolete("http2_max_requests", HTTP_MAIN_SRV, [1], "keepalive_requests"),
  obsolete("http2_max_field_size", HTTP_MAIN_SRV, [1], "large_client_header_buffers"),
  obsolete("http2_max_header_size", HTTP_MAIN_SRV, [1], "large_client_header_buffers"),
  srvRow("http2_body_preread_size", [1], (node, conf) => {
    once(node, conf.http2BodyPrereadSize);
    const size = parseSize(node, node.args[0]!);
    if (size > MAX_WINDOW) throw valueError(node, `the maximum body preread buffer size is ${MAX_WINDOW}`);
    conf.http2BodyPrereadSize = size;
  }),
  srvRow("http2_streams_index_size", [1], (node, conf) => {
    once(node, seenIn(conf, node.name));
    const count = parseNumber(node, node.args[0]!);
    // ngx_http_v2_streams_index_mask(): the stream table's size is a power of two.
    if (count === 0 || (count & (count - 1)) !== 0) throw directiveError(node, "must be a power of two");
  }),
  obsolete("http2_recv_timeout", HTTP_MAIN_SRV, [1], "client_header_timeout"),
  obsolete("http2_idle_timeout", HTTP_MAIN_SRV, [1], "keepalive_timeout"),
  {
    name: "http2_chunk_size",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      const conf = scope.loc!;
      once(node, conf.http2ChunkSize);
      const size = parseSize(node, node.args[0]!);
      if (size === 0) throw valueError(node, "the http2 chunk size cannot be zero");
      conf.http2ChunkSize = Math.min(size, MAX_FRAME_SIZE);
    },
  },
  obsolete("http2_push_preload", HTTP_CONTEXTS, "flag"),
  obsolete("http2_push", HTTP_CONTEXTS, [1]),
  srvRow("wsgate_http2_websocket", "flag", (node, conf) => {
    once(node, conf.wsgateHttp2Websocket);
    conf.wsgateHttp2Websocket = parseFlag(node, node.args[0]!);
  }),
];

export const HTTP2_MODULE: ConfModule<Http2LocConf, Http2SrvConf> = {
  name: "ngx_http_v2_module",
  directives: HTTP2_DIRECTIVES,
  // ngx_http_v2_merge_srv_conf() and ngx_http_v2_merge_loc_conf(): the plain rule over these defaults.
  createSrv: () => ({
    http2: false,
    http2MaxConcurrentStreams: 128,
    http2BodyPrereadSize: 65536,
    wsgateHttp2Websocket: false,
  }),
  createLoc: () => ({ http2ChunkSize: 8 * 1024 }),
};

/** A row of the http and server levels whose setter gets the level's per-server record. */
function srvRow(
  name: string,
  args: Arity,
  set: (node: DirectiveNode, conf: Partial<Http2SrvConf>) => void,
): DirectiveSpec {
  return { name, contexts: HTTP_MAIN_SRV, args, handle: (scope, node) => set(node, scope.srv!) };
}

/** nginx's slots refuse a second line at a level before they read its value: "is duplicate". */
function once(node: DirectiveNode, current: unknown): void {
  if (current !== undefined) throw directiveError(node, "is duplicate");
}

/** For a directive that records nothing: undefined the first time `name` is met at this level. */
function seenIn(level: object, name: string): true | undefined {
  const names = seen.get(level) ?? new Set<string>();
  seen.set(level, names);
  if (names.has(name)) return true;
  names.add(name);
  return undefined;
}

/** ngx_http_v2_obsolete(): a warning in nginx's words, the value not even read. */
function obsolete(name: string, contexts: readonly Context[], args: Arity, replacement?: string): DirectiveSpec {
  const message =
    replacement === undefined
      ? `the "${name}" directive is obsolete, ignored`
      : `the "${name}" directive is obsolete, use the "${replacement}" directive instead`;
  return { name, contexts, args, handle: (scope: BuildScope, node) => configWarning(scope, node, message) };
}
