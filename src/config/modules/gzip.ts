/**
 * ngx_http_gzip_filter_module's directives (gzip, gzip_types,
 * gzip_comp_level, gzip_min_length, gzip_buffers, gzip_window, gzip_hash,
 * gzip_no_buffer, postpone_gzipping), the core module's gzip settings
 * (gzip_vary, gzip_http_version, gzip_proxied, gzip_disable) and
 * ngx_http_gzip_static_module's gzip_static, with nginx's arguments,
 * refusals, defaults and merge.
 *
 * gzip_buffers, gzip_no_buffer and postpone_gzipping size nginx's own
 * buffers: node:zlib streams the body with back-pressure instead, so they
 * are checked and kept without changing what the client receives.
 */

import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { compileRegex } from "../regex.js";
import { HTTP_ALL_WITH_IF, HTTP_CONTEXTS, type DirectiveSpec } from "../table.js";
import { configWarning, directiveError, locFlag, parseSize, setOnce, valueError } from "../values.js";

/** gzip_proxied's words (ngx_http_gzip_proxied_mask), matched without regard to case. */
export const GZIP_PROXIED_WORDS = [
  "off",
  "expired",
  "no-cache",
  "no-store",
  "private",
  "no_last_modified",
  "no_etag",
  "auth",
  "any",
] as const;
export type GzipProxiedWord = (typeof GZIP_PROXIED_WORDS)[number];

export interface GzipLocConf {
  gzip: boolean;
  /** gzip_types: lower-cased MIME types (text/html always among them), or "any" for `*`. */
  gzipTypes: ReadonlySet<string> | "any";
  gzipCompLevel: number;
  gzipMinLength: number;
  gzipBuffers: { readonly num: number; readonly size: number };
  /** gzip_window as zlib's window bits (9 … 15). */
  gzipWindowBits: number;
  /** gzip_hash as zlib's memLevel (1 … 9). */
  gzipMemLevel: number;
  gzipNoBuffer: boolean;
  postponeGzipping: number;
  gzipVary: boolean;
  /** gzip_http_version: 1000 (1.0) or 1001 (1.1), as HttpRequest versions. */
  gzipHttpVersion: number;
  /** gzip_proxied's words; the lines of a level add up. */
  gzipProxied: ReadonlySet<GzipProxiedWord>;
  /** gzip_disable's regexes, tested against User-Agent without regard to case. */
  gzipDisable: readonly RegExp[];
  /** gzip_disable's `msie6`: merged apart from the regexes, as nginx's gzip_disable_msie6. */
  gzipDisableMsie6: boolean;
  gzipStatic: "off" | "on" | "always";
}

/** ngx_http_html_default_types. */
const DEFAULT_TYPES = ["text/html"];

/** gzip_window's sizes: 512 … 32k are window bits 9 … 15 (ngx_http_gzip_window). */
const WINDOW_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768];
/** gzip_hash's sizes: 512 … 128k are memLevel 1 … 9 (ngx_http_gzip_hash). */
const HASH_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

const sizeRow = (name: string, key: "gzipMinLength" | "postponeGzipping"): DirectiveSpec => ({
  name,
  contexts: HTTP_CONTEXTS,
  args: [1],
  handle: (scope, node) => {
    if (scope.loc![key] !== undefined) throw directiveError(node, "is duplicate");
    scope.loc![key] = parseSize(node, node.args[0]!);
  },
});

/** A size slot with a post handler that maps the size to a zlib parameter (window bits, memLevel). */
const zlibSizeRow = (
  name: string,
  key: "gzipWindowBits" | "gzipMemLevel",
  sizes: readonly number[],
  base: number,
  message: string,
): DirectiveSpec => ({
  name,
  contexts: HTTP_CONTEXTS,
  args: [1],
  handle: (scope, node) => {
    if (scope.loc![key] !== undefined) throw directiveError(node, "is duplicate");
    const index = sizes.indexOf(parseSize(node, node.args[0]!));
    if (index === -1) throw directiveError(node, message);
    scope.loc![key] = base + index;
  },
});

const GZIP_DIRECTIVES: readonly DirectiveSpec[] = [
  locFlag("gzip", "gzip", HTTP_ALL_WITH_IF),
  {
    name: "gzip_buffers",
    contexts: HTTP_CONTEXTS,
    args: [2],
    handle: (scope, node) => setOnce(scope.loc!, "gzipBuffers", parseBufs(node), node),
  },
  {
    name: "gzip_types",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      // ngx_http_types_slot(): after `*` the level's later lines are ignored.
      if (loc.gzipTypes === "any") return;
      const types = new Set(loc.gzipTypes ?? DEFAULT_TYPES);
      for (const arg of node.args) {
        if (arg === "*") {
          loc.gzipTypes = "any";
          return;
        }
        const type = arg.toLowerCase();
        if (types.has(type)) configWarning(scope, node, `duplicate MIME type "${type}"`);
        else types.add(type);
      }
      loc.gzipTypes = types;
    },
  },
  {
    name: "gzip_comp_level",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      if (scope.loc!.gzipCompLevel !== undefined) throw directiveError(node, "is duplicate");
      const text = node.args[0]!;
      if (!/^\d+$/.test(text)) throw directiveError(node, "invalid number");
      const level = Number(text);
      // ngx_conf_check_num_bounds() names the bounds, not the directive.
      if (level < 1 || level > 9) throw valueError(node, "value must be between 1 and 9");
      scope.loc!.gzipCompLevel = level;
    },
  },
  zlibSizeRow("gzip_window", "gzipWindowBits", WINDOW_SIZES, 9, "must be 512, 1k, 2k, 4k, 8k, 16k, or 32k"),
  zlibSizeRow("gzip_hash", "gzipMemLevel", HASH_SIZES, 1, "must be 512, 1k, 2k, 4k, 8k, 16k, 32k, 64k, or 128k"),
  sizeRow("postpone_gzipping", "postponeGzipping"),
  locFlag("gzip_no_buffer", "gzipNoBuffer"),
  sizeRow("gzip_min_length", "gzipMinLength"),
  // ngx_http_core_module's rows.
  locFlag("gzip_vary", "gzipVary"),
  {
    name: "gzip_http_version",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      const text = node.args[0]!;
      const version = ["1.0", "1.1"].indexOf(text.toLowerCase());
      if (scope.loc!.gzipHttpVersion !== undefined) throw directiveError(node, "is duplicate");
      if (version === -1) throw valueError(node, `invalid value "${text}"`);
      scope.loc!.gzipHttpVersion = 1000 + version;
    },
  },
  {
    name: "gzip_proxied",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      // ngx_conf_set_bitmask_slot(): no duplicate check; a word seen again is a warning.
      const words = new Set(scope.loc!.gzipProxied ?? []);
      for (const arg of node.args) {
        const word = GZIP_PROXIED_WORDS.find((known) => known === arg.toLowerCase());
        if (word === undefined) throw valueError(node, `invalid value "${arg}"`);
        if (words.has(word)) configWarning(scope, node, `duplicate value "${arg}"`);
        words.add(word);
      }
      scope.loc!.gzipProxied = words;
    },
  },
  {
    name: "gzip_disable",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      const loc = scope.loc!;
      const regexes = [...(loc.gzipDisable ?? [])];
      for (const arg of node.args) {
        if (arg === "msie6") loc.gzipDisableMsie6 = true;
        else regexes.push(compileRegex(node, arg, true));
      }
      loc.gzipDisable = regexes;
    },
  },
  {
    name: "gzip_static",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      if (scope.loc!.gzipStatic !== undefined) throw directiveError(node, "is duplicate");
      const text = node.args[0]!;
      const value = (["off", "on", "always"] as const).find((word) => word === text.toLowerCase());
      if (value === undefined) throw valueError(node, `invalid value "${text}"`);
      scope.loc!.gzipStatic = value;
    },
  },
];

/** ngx_conf_set_bufs_slot(): a positive count and a positive size. */
function parseBufs(node: DirectiveNode): { num: number; size: number } {
  const [numText, sizeText] = node.args as [string, string];
  const num = /^\d+$/.test(numText) ? Number(numText) : 0;
  if (num === 0) throw directiveError(node, "invalid value");
  // ngx_parse_size() failing and a size of 0 are the same refusal.
  const size = parseSize(node, sizeText);
  if (size === 0) throw directiveError(node, "invalid value");
  return { num, size };
}

export const GZIP_MODULE: ConfModule<GzipLocConf> = {
  name: "ngx_http_gzip_filter_module",
  directives: GZIP_DIRECTIVES,
  createLoc: () => ({
    gzip: false,
    gzipTypes: new Set(DEFAULT_TYPES),
    gzipCompLevel: 1,
    gzipMinLength: 20,
    // 128k in pages of 4k (ngx_http_gzip_merge_conf).
    gzipBuffers: { num: 32, size: 4096 },
    gzipWindowBits: 15,
    gzipMemLevel: 8,
    gzipNoBuffer: false,
    postponeGzipping: 0,
    gzipVary: false,
    gzipHttpVersion: 1001,
    gzipProxied: new Set<GzipProxiedWord>(["off"]),
    gzipDisable: [],
    gzipDisableMsie6: false,
    gzipStatic: "off",
  }),
};
