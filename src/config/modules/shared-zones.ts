/**
 * nginx's shared memory zones as the configuration declares them
 * (ngx_shared_memory_add()): one table of zones by name for the whole
 * configuration, each owned by one use (limit_conn_zone, limit_req_zone …).
 * A directive that only names a zone (`limit_conn one 1`, `limit_req
 * zone=one`) adds it with size 0; the directive that defines it gives the
 * size, so a zone may be used before it is defined. A zone still of size 0
 * once everything is read is nginx's "zero size shared memory zone" (found
 * by ngx_init_cycle(), so without a place).
 *
 * The zones' contents are not here: src/http/shared-zones.ts says how a
 * request reaches them, whichever process holds them.
 */

import { ConfigError } from "../../core/errors.js";
import type { BuildScope, HttpBuild } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { valueError } from "../values.js";
import { parseSizeValue } from "../../core/sizes.js";
import type { ComplexValue } from "../../vars/complex-value.js";

/** The uses of a zone (nginx's shm_zone->tag: the module that declared it). */
export type ZoneKind = "limit_conn" | "limit_req" | "upstream";

/** One zone of the configuration. `size` and `key` are filled when its defining directive is read. */
export interface SharedZoneDecl<K extends ZoneKind = ZoneKind> {
  readonly name: string;
  readonly kind: K;
  /** Bytes; 0 while only referenced. */
  size: number;
  /** The key the zone counts by (its defining directive's first argument). */
  key: ComplexValue | undefined;
  /** limit_req_zone's rate in requests per 1000 seconds (nginx's ctx->rate: 1 is 0.001 r/s). */
  rate: number;
}

export interface SharedZonesMainConf {
  /** Every shared zone of the configuration, by name. */
  sharedZones: ReadonlyMap<string, SharedZoneDecl>;
}

/** The table being read, reachable from the http block too (for the check once everything is read). */
const tables = new WeakMap<HttpBuild, Map<string, SharedZoneDecl>>();

function tableOf(scope: BuildScope): Map<string, SharedZoneDecl> {
  let table = scope.main.sharedZones as Map<string, SharedZoneDecl> | undefined;
  if (table === undefined) {
    table = new Map();
    scope.main.sharedZones = table;
  }
  if (scope.http) tables.set(scope.http, table);
  return table;
}

/** ngx_shared_memory_add(): the zone `name` for `kind`, created (size may be 0) or found; nginx's refusals. */
export function addSharedZone<K extends ZoneKind>(
  scope: BuildScope,
  node: DirectiveNode,
  name: string,
  size: number,
  kind: K,
): SharedZoneDecl<K> {
  const table = tableOf(scope);
  const zone = table.get(name);
  if (zone === undefined) {
    const created: SharedZoneDecl<K> = { name, kind, size, key: undefined, rate: 0 };
    table.set(name, created);
    return created;
  }
  if (zone.kind !== kind) {
    throw valueError(node, `the shared memory zone "${name}" is already declared for a different use`);
  }
  if (zone.size === 0) zone.size = size;
  if (size !== 0 && size !== zone.size) {
    throw valueError(
      node,
      `the size ${size} of shared memory zone "${name}" conflicts with already declared size ${zone.size}`,
    );
  }
  return zone as SharedZoneDecl<K>;
}

/** nginx's page size: a zone must hold at least 8 pages ("is too small"). */
export const PAGE_SIZE = 4096;

/** The `zone=name:size` parameter of limit_conn_zone and limit_req_zone: [name, size], or nginx's refusal. */
export function parseZoneParameter(node: DirectiveNode, arg: string): [string, number] {
  const colon = arg.indexOf(":", 5);
  if (colon === -1) throw valueError(node, `invalid zone size "${arg}"`);
  const size = parseSizeValue(arg.slice(colon + 1));
  if (size === undefined) throw valueError(node, `invalid zone size "${arg}"`);
  if (size < 8 * PAGE_SIZE) throw valueError(node, `zone "${arg}" is too small`);
  return [arg.slice(5, colon), size];
}

export const SHARED_ZONES_MODULE: ConfModule<object, object, SharedZonesMainConf> = {
  name: "shared_zones",
  directives: [],
  createMain: () => ({ sharedZones: new Map() }),
  // ngx_init_cycle(): a zone named but never defined.
  finalizeServers: (_servers, { http }) => {
    for (const zone of tables.get(http)?.values() ?? []) {
      if (zone.size === 0) throw new ConfigError("cycle", `zero size shared memory zone "${zone.name}"`);
    }
  },
};
