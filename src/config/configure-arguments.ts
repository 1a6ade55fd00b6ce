/**
 * `wsgate -V`'s configure arguments, computed from the directive table so
 * they cannot drift: nginx's http modules, each with the directives that
 * prove it is there. A default module (built unless `--without-…`) is named
 * `--without-…` when its proof is not all in the table; an optional one
 * (`--with-…`) is named when it is. Tools and test drivers that read `-V` to
 * learn which modules exist then see what wsgate implements.
 *
 * The proofs are the directives a configuration cannot use the module
 * without (ngx_http_ssl_module: `ssl_certificate`), not the module's every
 * directive: a module wsgate has may still refuse a rare directive by name.
 */

import { DIRECTIVES } from "./directives.js";
import { MODULES } from "./modules/index.js";

export interface NginxModule {
  /** configure's name for it: `--with-<flag>` / `--without-<flag>`. */
  readonly flag: string;
  /** Built by nginx's configure unless disabled (`--without-…`), else optional (`--with-…`). */
  readonly builtByDefault: boolean;
  /** The directives that make the module: all in the table means wsgate has it. */
  readonly proof: readonly string[];
}

const byDefault = (flag: string, ...proof: string[]): NginxModule => ({ flag, builtByDefault: true, proof });
const optional = (flag: string, ...proof: string[]): NginxModule => ({ flag, builtByDefault: false, proof });

/** nginx's http modules in configure's order (auto/options), optional ones first as `nginx -V` lists them. */
export const NGINX_HTTP_MODULES: readonly NginxModule[] = [
  optional("http_ssl_module", "ssl_certificate", "ssl_certificate_key"),
  optional("http_v2_module", "http2"),
  optional("http_v3_module", "http3"),
  optional("http_realip_module", "set_real_ip_from", "real_ip_header"),
  optional("http_addition_module", "add_before_body", "add_after_body"),
  optional("http_xslt_module", "xslt_stylesheet"),
  optional("http_image_filter_module", "image_filter"),
  optional("http_geoip_module", "geoip_country"),
  optional("http_sub_module", "sub_filter"),
  optional("http_dav_module", "dav_methods"),
  optional("http_flv_module", "flv"),
  optional("http_mp4_module", "mp4"),
  optional("http_gunzip_module", "gunzip"),
  optional("http_gzip_static_module", "gzip_static"),
  optional("http_auth_request_module", "auth_request", "auth_request_set"),
  optional("http_random_index_module", "random_index"),
  optional("http_secure_link_module", "secure_link"),
  optional("http_slice_module", "slice"),
  optional("http_stub_status_module", "stub_status"),
  optional("http_perl_module", "perl"),
  byDefault("http_charset_module", "charset"),
  byDefault("http_gzip_module", "gzip"),
  byDefault("http_ssi_module", "ssi"),
  byDefault("http_userid_module", "userid"),
  byDefault("http_access_module", "allow", "deny"),
  byDefault("http_auth_basic_module", "auth_basic", "auth_basic_user_file"),
  byDefault("http_mirror_module", "mirror"),
  // `autoindex off` alone (nginx's default written out) is not the module: its listings are.
  byDefault("http_autoindex_module", "autoindex", "autoindex_format"),
  byDefault("http_geo_module", "geo"),
  byDefault("http_map_module", "map"),
  byDefault("http_split_clients_module", "split_clients"),
  byDefault("http_referer_module", "valid_referers"),
  byDefault("http_rewrite_module", "rewrite", "return", "set", "if", "break"),
  byDefault("http_proxy_module", "proxy_pass"),
  byDefault("http_fastcgi_module", "fastcgi_pass"),
  byDefault("http_uwsgi_module", "uwsgi_pass"),
  byDefault("http_scgi_module", "scgi_pass"),
  byDefault("http_grpc_module", "grpc_pass"),
  byDefault("http_memcached_module", "memcached_pass"),
  byDefault("http_limit_conn_module", "limit_conn", "limit_conn_zone"),
  byDefault("http_limit_req_module", "limit_req", "limit_req_zone"),
  byDefault("http_empty_gif_module", "empty_gif"),
  byDefault("http_browser_module", "modern_browser", "ancient_browser"),
  byDefault("http_upstream_hash_module", "hash"),
  byDefault("http_upstream_ip_hash_module", "ip_hash"),
  byDefault("http_upstream_least_conn_module", "least_conn"),
  byDefault("http_upstream_random_module", "random"),
  byDefault("http_upstream_keepalive_module", "keepalive"),
  byDefault("http_upstream_zone_module", "zone"),
  // `--without-http-cache`: the proxy cache and its kin.
  byDefault("http-cache", "proxy_cache_path", "proxy_cache"),
];

/** Whether wsgate implements the module: every directive of its proof is a row of the table. */
export function implemented(module: NginxModule, table: ReadonlyMap<string, unknown> = DIRECTIVES): boolean {
  return module.proof.every((name) => table.has(name));
}

/** The configure switches for the modules: `--with-…` for optional ones present, `--without-…` for default ones absent. */
export function moduleSwitches(table: ReadonlyMap<string, unknown> = DIRECTIVES): string[] {
  return NGINX_HTTP_MODULES.flatMap((module) => {
    const has = implemented(module, table);
    if (module.builtByDefault) return has ? [] : [`--without-${module.flag}`];
    return has ? [`--with-${module.flag}`] : [];
  });
}

/**
 * wsgate's own modules as nginx names third-party ones (`--add-module=PATH`): each module with a
 * `wsgate_` directive, so that a tool reading `-V` learns of wsgate_metrics as of headers-more.
 */
export function ownModules(): string[] {
  return MODULES.flatMap((module) => {
    const own = module.directives.filter((d) => d.name.startsWith("wsgate_")).map((d) => d.name);
    if (own.length === 0) return [];
    // A wsgate_ directive inside one of nginx's modules (wsgate_health_check in upstream) stands for itself.
    const names = module.name.startsWith("wsgate_") ? [module.name] : own;
    return names.map((name) => `--add-module=wsgate/${name}`);
  });
}

/** `configure arguments:` of `-V`: the paths under this prefix, the module switches, then wsgate's own modules. */
export function configureArguments(prefix: string): string {
  const paths = [
    `--prefix=${prefix}`,
    "--conf-path=conf/nginx.conf",
    "--error-log-path=logs/error.log",
    "--http-log-path=logs/access.log",
    "--pid-path=logs/nginx.pid",
  ];
  return [...paths, ...moduleSwitches(), ...ownModules()].join(" ");
}
