/**
 * Versions. wsgate follows the behaviour of one nginx release; tools that read
 * `nginx -V` get that release's number, and wsgate's own beside it.
 */

/** The nginx release whose behaviour wsgate follows. */
export const NGINX_VERSION = "1.28.0";

/** wsgate's own version (package.json). */
export const WSGATE_VERSION = "0.1.0";

/** The product token in Server headers and error pages. */
export const SERVER_TOKEN = `wsgate/${WSGATE_VERSION}`;
export const SERVER_TOKEN_BARE = "wsgate";

/**
 * nginx's configure switches, as wsgate's truthful answer to "which modules
 * are built in": `--with-…` for optional modules wsgate has, `--without-…`
 * for default modules it lacks. Update a row when a module lands.
 */
const MODULES: ReadonlyArray<{ readonly flag: string; readonly has: boolean }> = [
  { flag: "http_ssl_module", has: false },
  { flag: "http_v2_module", has: false },
  { flag: "http_realip_module", has: false },
  { flag: "http_stub_status_module", has: true },
  { flag: "http_charset_module", has: false },
  { flag: "http_gzip_module", has: false },
  { flag: "http_ssi_module", has: false },
  { flag: "http_userid_module", has: false },
  { flag: "http_access_module", has: false },
  { flag: "http_auth_basic_module", has: false },
  { flag: "http_mirror_module", has: false },
  { flag: "http_autoindex_module", has: false },
  { flag: "http_geo_module", has: false },
  { flag: "http_split_clients_module", has: false },
  { flag: "http_referer_module", has: false },
  { flag: "http_rewrite_module", has: false },
  { flag: "http_fastcgi_module", has: false },
  { flag: "http_uwsgi_module", has: false },
  { flag: "http_scgi_module", has: false },
  { flag: "http_grpc_module", has: false },
  { flag: "http_memcached_module", has: false },
  { flag: "http_limit_conn_module", has: false },
  { flag: "http_limit_req_module", has: false },
  { flag: "http_empty_gif_module", has: false },
  { flag: "http_browser_module", has: false },
  { flag: "http_upstream_hash_module", has: false },
  { flag: "http_upstream_ip_hash_module", has: false },
  { flag: "http_upstream_least_conn_module", has: false },
  { flag: "http_upstream_random_module", has: false },
  { flag: "http_upstream_keepalive_module", has: false },
  { flag: "http_upstream_zone_module", has: false },
  { flag: "http-cache", has: false },
];

/** Optional modules: present as --with-X when wsgate has them. */
const OPTIONAL = new Set(["http_ssl_module", "http_v2_module", "http_realip_module", "http_stub_status_module"]);

export function configureArguments(prefix: string): string {
  const paths = [
    `--prefix=${prefix}`,
    "--conf-path=conf/nginx.conf",
    "--error-log-path=logs/error.log",
    "--http-log-path=logs/access.log",
    "--pid-path=logs/nginx.pid",
  ];
  const modules = MODULES.flatMap(({ flag, has }) => {
    if (OPTIONAL.has(flag)) return has ? [`--with-${flag}`] : [];
    return has ? [] : [`--without-${flag}`];
  });
  return [...paths, ...modules].join(" ");
}
