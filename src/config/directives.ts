/**
 * The directive table: every directive wsgate accepts, one row each, from the
 * module files. Adding a directive is one row there and its handler.
 * A name may have several rows (nginx's `server` in http and in upstream,
 * `error_log` in main and in http); the analyzer takes the one allowed where
 * the directive stands.
 */

import type { DirectiveSpec } from "./table.js";
import { CORE_DIRECTIVES } from "./modules/core.js";
import { HTTP_CORE_DIRECTIVES } from "./modules/http-core.js";
import { LOG_DIRECTIVES } from "./modules/log.js";
import { MAP_DIRECTIVES } from "./modules/map.js";
import { PROXY_DIRECTIVES } from "./modules/proxy.js";
import { STATIC_DIRECTIVES } from "./modules/static.js";
import { ACCESS_DIRECTIVES } from "./modules/access.js";
import { RESOLVER_DIRECTIVES } from "./modules/resolver.js";
import { UPSTREAM_DIRECTIVES } from "./modules/upstream.js";
import { UPSTREAM_STATUS_DIRECTIVES } from "./modules/upstream-status.js";
import { WSGATE_PROCESS_DIRECTIVES } from "./modules/wsgate-process.js";
import { REWRITE_DIRECTIVES } from "./modules/rewrite.js";
import { HEADERS_DIRECTIVES } from "./modules/headers.js";
import { PROXY_RESPONSE_DIRECTIVES } from "./modules/proxy-response.js";
import { REQUEST_BODY_DIRECTIVES } from "./modules/request-body.js";
import { SSL_DIRECTIVES } from "./modules/ssl.js";

const ALL_ROWS: readonly DirectiveSpec[] = [
  ...CORE_DIRECTIVES,
  ...HTTP_CORE_DIRECTIVES,
  ...LOG_DIRECTIVES,
  ...MAP_DIRECTIVES,
  ...PROXY_DIRECTIVES,
  ...STATIC_DIRECTIVES,
  ...ACCESS_DIRECTIVES,
  ...RESOLVER_DIRECTIVES,
  ...UPSTREAM_DIRECTIVES,
  ...UPSTREAM_STATUS_DIRECTIVES,
  ...WSGATE_PROCESS_DIRECTIVES,
  ...REWRITE_DIRECTIVES,
  ...HEADERS_DIRECTIVES,
  ...PROXY_RESPONSE_DIRECTIVES,
  ...REQUEST_BODY_DIRECTIVES,
  ...SSL_DIRECTIVES,
];

export const DIRECTIVES: ReadonlyMap<string, readonly DirectiveSpec[]> = indexByName(ALL_ROWS);

function indexByName(rows: readonly DirectiveSpec[]): Map<string, DirectiveSpec[]> {
  const byName = new Map<string, DirectiveSpec[]>();
  for (const row of rows) {
    const list = byName.get(row.name) ?? [];
    list.push(row);
    byName.set(row.name, list);
  }
  return byName;
}
