/**
 * ngx_http_proxy_module's buffer family and the response-side settings that
 * go with it: proxy_buffer_size, proxy_buffers, proxy_busy_buffers_size,
 * proxy_temp_path, proxy_max_temp_file_size, proxy_temp_file_write_size,
 * proxy_ignore_headers, proxy_ignore_client_abort, proxy_headers_hash_*.
 *
 * Each is read with nginx's slot (ngx_conf_set_size_slot, _bufs_slot,
 * _path_slot, _bitmask_slot, _num_slot, _flag_slot) and checked once merged
 * as ngx_http_proxy_merge_loc_conf() checks it, in its order, reported at the
 * http block's closing "}" where nginx reports its merge. What they do:
 * proxy_buffer_size bounds the upstream's response head (a longer one is
 * "upstream sent too big header", 502); proxy_ignore_client_abort keeps the
 * upstream request when the client goes; the rest only tune nginx's buffering
 * to memory and disk, which wsgate's streaming relay does not do — accepted,
 * checked, and without effect.
 */

import { ConfigError, type SourcePlace } from "../../core/errors.js";
import type { LocationBuild } from "../build-scope.js";
import type { LocConf, LocationConf } from "../model.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { resolveFromPrefix } from "../paths.js";
import { HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { configWarning, directiveError, locFlag, parseNumber, valueError } from "../values.js";
import { parseTempPath, type TempPath } from "./request-body.js";

export interface ProxyBuffersLocConf {
  /** proxy_buffer_size: the most an upstream's response head may take. */
  proxyBufferSize: number;
  proxyBuffers: { readonly num: number; readonly size: number };
  /** The values as written; unset, nginx derives them from the buffer sizes. */
  proxyBusyBuffersSize: number | undefined;
  proxyTempFileWriteSize: number | undefined;
  proxyMaxTempFileSize: number | undefined;
  proxyTempPath: TempPath;
  /** proxy_ignore_headers, by nginx's names in lower case. */
  proxyIgnoreHeaders: ReadonlySet<IgnoredHeader>;
  proxyIgnoreClientAbort: boolean;
  proxyHeadersHashMaxSize: number;
  proxyHeadersHashBucketSize: number;
}

/** ngx_http_upstream_ignore_headers_masks, lower-cased. */
export type IgnoredHeader =
  | "x-accel-redirect"
  | "x-accel-expires"
  | "x-accel-limit-rate"
  | "x-accel-buffering"
  | "x-accel-charset"
  | "expires"
  | "cache-control"
  | "set-cookie"
  | "vary";

const IGNORABLE: ReadonlySet<string> = new Set<IgnoredHeader>([
  "x-accel-redirect",
  "x-accel-expires",
  "x-accel-limit-rate",
  "x-accel-buffering",
  "x-accel-charset",
  "expires",
  "cache-control",
  "set-cookie",
  "vary",
]);

/** ngx_pagesize on x86-64 Linux: the default of proxy_buffer_size and of each of proxy_buffers. */
const PAGE = 4096;

const PROXY_BUFFERS_DIRECTIVES: readonly DirectiveSpec[] = [
  sizeSlot("proxy_buffer_size", "proxyBufferSize"),
  {
    // ngx_conf_set_bufs_slot(): a count and a size, neither 0.
    name: "proxy_buffers",
    contexts: HTTP_CONTEXTS,
    args: [2],
    handle: (scope, node) =>
      once(scope.loc!, "proxyBuffers", node, () => {
        const [numText, sizeText] = node.args as [string, string];
        const num = /^\d+$/.test(numText) && BigInt(numText) <= MAX_INT ? Number(numText) : 0;
        const size = parseSizeSlot(sizeText);
        if (num === 0 || size === undefined || size === 0) throw directiveError(node, "invalid value");
        return { num, size };
      }),
  },
  sizeSlot("proxy_busy_buffers_size", "proxyBusyBuffersSize"),
  {
    name: "proxy_temp_path",
    contexts: HTTP_CONTEXTS,
    args: [1, 2, 3, 4],
    handle: (scope, node) => once(scope.loc!, "proxyTempPath", node, () => parseTempPath(node, scope.prefixes.prefix)),
  },
  sizeSlot("proxy_max_temp_file_size", "proxyMaxTempFileSize"),
  sizeSlot("proxy_temp_file_write_size", "proxyTempFileWriteSize"),
  {
    // ngx_conf_set_bitmask_slot(): lines at one level add up; a value named twice is a warning.
    name: "proxy_ignore_headers",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      const set = new Set<IgnoredHeader>(loc.proxyIgnoreHeaders ?? []);
      for (const value of node.args) {
        const lower = value.toLowerCase();
        if (!IGNORABLE.has(lower)) throw valueError(node, `invalid value "${value}"`);
        if (set.has(lower as IgnoredHeader)) configWarning(scope, node, `duplicate value "${value}"`);
        set.add(lower as IgnoredHeader);
      }
      loc.proxyIgnoreHeaders = set;
    },
  },
  locFlag("proxy_ignore_client_abort", "proxyIgnoreClientAbort"),
  numSlot("proxy_headers_hash_max_size", "proxyHeadersHashMaxSize"),
  numSlot("proxy_headers_hash_bucket_size", "proxyHeadersHashBucketSize"),
];

export const PROXY_BUFFERS_MODULE: ConfModule<ProxyBuffersLocConf> = {
  name: "ngx_http_proxy_module (buffers)",
  directives: PROXY_BUFFERS_DIRECTIVES,
  createLoc: ({ prefixes }) => ({
    proxyBufferSize: PAGE,
    proxyBuffers: { num: 8, size: PAGE },
    proxyBusyBuffersSize: undefined,
    proxyTempFileWriteSize: undefined,
    proxyMaxTempFileSize: undefined,
    // NGX_HTTP_PROXY_TEMP_PATH of a build with its defaults: "proxy_temp" under the prefix, levels 1 2.
    proxyTempPath: { path: resolveFromPrefix(prefixes.prefix, "proxy_temp"), levels: [1, 2] },
    proxyIgnoreHeaders: new Set(),
    proxyIgnoreClientAbort: false,
    proxyHeadersHashMaxSize: 512,
    proxyHeadersHashBucketSize: 64,
  }),
  finalizeServers: (servers, { http }) => {
    // nginx merges the http level into each server, then each server into its locations: the http level alone is never checked.
    const built = { hide: false, set: false };
    servers.forEach((server, i) => {
      const own = http.servers[i]!;
      checkLevel(server.loc, own.loc, built, http.end);
      walkLocations(server.locations, own.locations, http.end);
    });
  },
};

/** Which of the two headers hashes a level's parent has built (a server's, always; the http level's, once saved). */
interface HashesBuilt {
  hide: boolean;
  set: boolean;
}

function walkLocations(
  locations: readonly LocationConf[],
  builds: readonly LocationBuild[],
  end: SourcePlace | undefined,
): void {
  locations.forEach((location, i) => {
    const own = builds[i]!;
    checkLevel(location.loc, own.loc, { hide: true, set: true }, end);
    walkLocations(location.locations, own.locations, end);
  });
}

/**
 * One merged level's checks. The headers hashes are built again only where
 * the level writes its own lines or its parent has none built yet; the first
 * built from the http level's lines is kept there for the servers after
 * (ngx_http_upstream_hide_headers_hash(), ngx_http_proxy_init_headers()).
 */
function checkLevel(loc: LocConf, own: Partial<LocConf>, parent: HashesBuilt, end: SourcePlace | undefined): void {
  const refusal = bufferRefusal(loc);
  if (refusal) throw new ConfigError("invalid-value", refusal, end);
  const ownHide = own.proxyHideHeaders !== undefined || own.proxyPassHeaders !== undefined;
  const ownSet = own.proxySetHeaders !== undefined;
  const hash = headersHashRefusal(loc, ownHide || !parent.hide, ownSet || !parent.set);
  if (hash) throw new ConfigError("invalid-value", hash);
  if (!ownHide) parent.hide = true;
  if (!ownSet) parent.set = true;
}

const MAX_INT = 2n ** 63n - 1n;
const ONE_OF = `the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"`;

/** ngx_http_proxy_merge_loc_conf()'s checks of the buffer sizes, in its order; undefined when they pass. */
export function bufferRefusal(loc: ProxyBuffersLocConf): string | undefined {
  const { num, size: bufSize } = loc.proxyBuffers;
  if (num < 2) return `there must be at least 2 "proxy_buffers"`;
  const size = Math.max(loc.proxyBufferSize, bufSize);
  const busy = loc.proxyBusyBuffersSize ?? 2 * size;
  if (busy < size) return `"proxy_busy_buffers_size" must be equal to or greater than ${ONE_OF}`;
  if (busy > (num - 1) * bufSize)
    return `"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer`;
  const write = loc.proxyTempFileWriteSize ?? 2 * size;
  if (write < size) return `"proxy_temp_file_write_size" must be equal to or greater than ${ONE_OF}`;
  const max = loc.proxyMaxTempFileSize ?? 1024 * 1024 * 1024;
  if (max !== 0 && max < size)
    return `"proxy_max_temp_file_size" must be equal to zero to disable temporary files usage or must be equal to or greater than ${ONE_OF}`;
  return undefined;
}

/** The headers nginx always hides from a proxied response (ngx_http_proxy_hide_headers). */
export const HIDDEN_BY_DEFAULT: readonly string[] = [
  "date",
  "server",
  "x-pad",
  "x-accel-expires",
  "x-accel-redirect",
  "x-accel-limit-rate",
  "x-accel-buffering",
  "x-accel-charset",
];
/** The headers nginx always sets in the request (ngx_http_proxy_headers). */
const SET = ["host", "connection", "content-length", "transfer-encoding", "keep-alive", "expect", "upgrade"];
const CACHE_LINE = 64;

/**
 * ngx_hash_init()'s refusals for the two hashes named "proxy_headers_hash"
 * (the hidden response headers, then the request headers set): a max size of
 * 0, a bucket too large, or one too small for a name. Its warning when the
 * hash is not optimal is not given.
 */
export function headersHashRefusal(loc: LocConf, buildHide: boolean, buildSet: boolean): string | undefined {
  const name = "proxy_headers_hash";
  const bucket = Math.ceil(loc.proxyHeadersHashBucketSize / CACHE_LINE) * CACHE_LINE;
  const hidden = [...HIDDEN_BY_DEFAULT, ...loc.proxyHideHeaders].filter(
    (header) => !loc.proxyPassHeaders.includes(header),
  );
  const set = [...SET, ...loc.proxySetHeaders.map((header) => header.name)];
  for (const names of [...(buildHide ? [hidden] : []), ...(buildSet ? [set] : [])]) {
    if (loc.proxyHeadersHashMaxSize === 0)
      return `could not build ${name}, you should increase ${name}_max_size: ${loc.proxyHeadersHashMaxSize}`;
    if (bucket > 65536 - CACHE_LINE) return `could not build ${name}, too large ${name}_bucket_size: ${bucket}`;
    // NGX_HASH_ELT_SIZE (a pointer, then the name's length and bytes aligned to a pointer) and one pointer more.
    if (names.some((header) => bucket < 8 + Math.ceil((header.length + 2) / 8) * 8 + 8))
      return `could not build ${name}, you should increase ${name}_bucket_size: ${bucket}`;
  }
  return undefined;
}

/** ngx_parse_size(): digits with an optional k or m (no g: sizes are not offsets); undefined when invalid. */
function parseSizeSlot(text: string): number | undefined {
  const match = /^(\d+)([kKmM]?)$/.exec(text);
  if (!match) return undefined;
  const scale = match[2] === "" ? 1n : match[2]!.toLowerCase() === "k" ? 1024n : 1024n * 1024n;
  const digits = BigInt(match[1]!);
  if (digits > MAX_INT / scale) return undefined;
  return Number(digits * scale);
}

type SizeKey = "proxyBufferSize" | "proxyBusyBuffersSize" | "proxyMaxTempFileSize" | "proxyTempFileWriteSize";

/** ngx_conf_set_size_slot(): once per level, "invalid value" for what ngx_parse_size() refuses. */
function sizeSlot(name: string, key: SizeKey): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => once(scope.loc!, key, node, () => sizeOf(node)),
  };
}

function sizeOf(node: DirectiveNode): number {
  const size = parseSizeSlot(node.args[0]!);
  if (size === undefined) throw directiveError(node, "invalid value");
  return size;
}

function numSlot(name: string, key: "proxyHeadersHashMaxSize" | "proxyHeadersHashBucketSize"): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => once(scope.loc!, key, node, () => parseNumber(node, node.args[0]!)),
  };
}

/** nginx's slots refuse a second line at a level before they read its value. */
function once<K extends keyof ProxyBuffersLocConf>(
  level: Partial<LocConf>,
  key: K,
  node: DirectiveNode,
  value: () => ProxyBuffersLocConf[K],
): void {
  if (level[key] !== undefined) throw directiveError(node, "is duplicate");
  (level as Partial<ProxyBuffersLocConf>)[key] = value();
}
