/**
 * nginx's modules that are outside wsgate's scope, by the directives that
 * belong to them: a configuration that uses one is refused with a line that
 * names the module, keeping nginx's `unknown directive "x"` at its start so
 * that tools matching nginx's text still recognise it. A directive of a
 * module wsgate has is never looked up here (the table answers first).
 */

/** [module, its directives: a name ending in "_" or "*" is a prefix]. */
const MODULES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["ngx_http_fastcgi_module", ["fastcgi_"]],
  ["ngx_http_uwsgi_module", ["uwsgi_"]],
  ["ngx_http_scgi_module", ["scgi_"]],
  ["ngx_http_grpc_module", ["grpc_"]],
  ["ngx_http_memcached_module", ["memcached_"]],
  ["ngx_mail_module", ["mail"]],
  ["ngx_stream_module", ["stream"]],
  ["ngx_http_ssi_module", ["ssi", "ssi_"]],
  ["ngx_http_sub_module", ["sub_filter*"]],
  // Its proxy_cache off, proxy_cache_bypass and proxy_no_cache are accepted (proxy-cache.ts); a cache is not.
  [
    "proxy caching (ngx_http_proxy_module's cache)",
    [
      "proxy_cache_path",
      "proxy_cache_key",
      "proxy_cache_valid",
      "proxy_cache_min_uses",
      "proxy_cache_use_stale",
      "proxy_cache_methods",
      "proxy_cache_lock*",
      "proxy_cache_revalidate",
      "proxy_cache_convert_head",
      "proxy_cache_background_update",
      "proxy_cache_max_range_offset",
      "proxy_store*",
    ],
  ],
  ["ngx_http_perl_module", ["perl*"]],
  ["ngx_http_js_module (njs)", ["js_"]],
  ["ngx_http_geoip_module", ["geoip_"]],
  ["ngx_http_image_filter_module", ["image_filter*"]],
  ["ngx_http_xslt_module", ["xslt_", "xml_entities"]],
  ["ngx_http_dav_module", ["dav_", "create_full_put_path", "min_delete_depth"]],
  ["ngx_http_mp4_module", ["mp4*"]],
  ["ngx_http_flv_module", ["flv"]],
  ["ngx_http_secure_link_module", ["secure_link*"]],
  ["ngx_http_slice_module", ["slice"]],
  ["ngx_http_split_clients_module", ["split_clients"]],
  ["ngx_http_mirror_module", ["mirror*"]],
  ["ngx_http_empty_gif_module", ["empty_gif"]],
  ["ngx_http_addition_module", ["add_before_body", "add_after_body", "addition_types"]],
  ["ngx_http_random_index_module", ["random_index"]],
  ["ngx_http_browser_module", ["modern_browser*", "ancient_browser*"]],
  ["ngx_http_userid_module", ["userid*"]],
  ["ngx_http_geo_module", ["geo"]],
  ["ngx_http_referer_module", ["valid_referers", "referer_hash_"]],
  ["ngx_http_gunzip_module", ["gunzip*"]],
  ["ngx_google_perftools_module", ["google_perftools_profiles"]],
];

function matches(pattern: string, name: string): boolean {
  if (pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  if (pattern.endsWith("_")) return name.startsWith(pattern);
  return name === pattern;
}

/** The out-of-scope module a directive belongs to, or undefined. */
export function outOfScopeModule(name: string): string | undefined {
  return MODULES.find(([, patterns]) => patterns.some((pattern) => matches(pattern, name)))?.[0];
}

/** The modules refused by name, for the README and tests. */
export const OUT_OF_SCOPE_MODULES: readonly string[] = MODULES.map(([module]) => module);
