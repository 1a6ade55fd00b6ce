/**
 * What a module of the configuration declares, after nginx's ngx_module_t
 * with its ngx_http_module_t: its directive rows, and for each level it has
 * settings at (main, server, location) a slice of that level's record, made
 * by `create*` with the module's defaults and filled by `merge*` from the
 * enclosing level.
 *
 * The merge of a slice is nginx's plain rule unless the module gives its own:
 * what a level left unset (undefined) comes from the level around it. A list
 * (add_header, allow/deny, error_page, proxy_set_header) set at a level is
 * that level's whole list, so it replaces the parent's under the same rule.
 *
 * Adding a directive (modules/request-body.ts is a small example): a row in
 * the module's table whose handler records the value on `scope.loc` (or
 * `scope.srv`, `scope.main`), the field in the module's slice interface, its
 * default in the module's `create*`, and the code that reads `r.loc.field`.
 * A new module is one more entry in modules/index.ts and its slices in the
 * types there.
 */

import type { HttpBuild } from "./build-scope.js";
import type { ServerConf } from "./model.js";
import type { Prefixes } from "./paths.js";
import type { DirectiveSpec } from "./table.js";

/** What the defaults of the main level may need. */
export interface MainContext {
  readonly prefixes: Prefixes;
  /** `-e`: the error log used when the configuration names none. */
  readonly defaultErrorLog: string | undefined;
}

/** What the defaults of the http levels may need: the prefixes, the http block read (its log formats). */
export interface HttpContext {
  readonly prefixes: Prefixes;
  readonly http: HttpBuild;
}

/** What the checks after the servers are merged may need. */
export interface ServersContext {
  readonly http: HttpBuild;
  /** TLS session-ticket keys chosen by the master (96 hex digits). */
  readonly ticketKeys: string | undefined;
}

/**
 * One module. `Loc`, `Srv`, `Main` are its slices of LocConf, SrvConf and
 * MainConf (object when it has none). Methods, not function properties, so a
 * module with its own slices is also a ConfModule of plain objects.
 */
export interface ConfModule<Loc extends object = object, Srv extends object = object, Main extends object = object> {
  /** nginx's name for the module, or wsgate's. */
  readonly name: string;
  readonly directives: readonly DirectiveSpec[];
  /** The main level's defaults (create_main_conf with init_main_conf's values). */
  createMain?(context: MainContext): Main;
  /** The values a server has where nothing sets them (create_srv_conf with merge_srv_conf's defaults). */
  createSrv?(): Srv;
  /** The values a location has where nothing sets them (create_loc_conf with merge_loc_conf's defaults). */
  createLoc?(context: HttpContext): Loc;
  /** A merge other than the plain rule: the fields it returns replace the plainly merged ones. */
  mergeSrv?(own: Partial<Srv>, parent: Srv): Partial<Srv>;
  mergeLoc?(own: Partial<Loc>, parent: Loc): Partial<Loc>;
  /** Checks and work once every server is merged (merge_srv_conf's checks, postconfiguration), in module order. */
  finalizeServers?(servers: readonly ServerConf[], context: ServersContext): void;
}
