/**
 * The levels of the configuration built from the modules (modules/index.ts),
 * as nginx's ngx_http_block() asks each module: every module's defaults make
 * the level above http, and each level is merged into the next by every
 * module, the plain rule (what a level left unset comes from its parent)
 * unless the module merges its slice itself.
 */

import type { HttpBuild, MainBuild } from "./build-scope.js";
import { inherit, type LocConf, type MainConf, type ServerConf, type SrvConf } from "./model.js";
import type { ConfModule, HttpContext, MainContext, ServersContext } from "./module.js";
import { MODULES } from "./modules/index.js";
import type { Prefixes } from "./paths.js";

const ALL: readonly ConfModule[] = MODULES;

/** The main level: what the main and events contexts set, every other setting its module's default. */
export function mergeMain(main: MainBuild, context: MainContext): MainConf {
  const defaults = createSlices(ALL.map((module) => module.createMain?.(context))) as MainConf;
  // Only the settings' own keys: MainBuild also carries what was read (http, warnings).
  const merged = { ...defaults };
  for (const key of Object.keys(defaults) as Array<keyof MainConf>) {
    const value = main[key as keyof MainBuild];
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}

/** The http block's own settings over every module's defaults. */
export function httpLevel(http: HttpBuild, prefixes: Prefixes): { loc: LocConf; srv: SrvConf } {
  const context: HttpContext = { prefixes, http };
  const loc = createSlices(ALL.map((module) => module.createLoc?.(context))) as LocConf;
  const srv = createSlices(ALL.map((module) => module.createSrv?.())) as SrvConf;
  return { loc: mergeLoc(http.loc, loc), srv: mergeSrv(http.srv, srv) };
}

/** A server's or location's own per-location settings merged with its parent's (merge_loc_conf). */
export function mergeLoc(own: Partial<LocConf>, parent: LocConf): LocConf {
  const merged = inherit(own, parent);
  for (const module of ALL) if (module.mergeLoc) Object.assign(merged, module.mergeLoc(own, parent));
  return merged;
}

/** A server's own per-server settings merged with the http block's (merge_srv_conf). */
export function mergeSrv(own: Partial<SrvConf>, parent: SrvConf): SrvConf {
  const merged = inherit(own, parent);
  for (const module of ALL) if (module.mergeSrv) Object.assign(merged, module.mergeSrv(own, parent));
  return merged;
}

/** Every module's checks once the servers are merged, in module order (the order nginx reports them). */
export function finalizeServers(servers: readonly ServerConf[], context: ServersContext): void {
  for (const module of ALL) module.finalizeServers?.(servers, context);
}

function createSlices(slices: ReadonlyArray<object | undefined>): object {
  return Object.assign({}, ...slices.filter((slice) => slice !== undefined)) as object;
}
