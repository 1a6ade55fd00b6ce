/**
 * ngx_http_core_module's `limit_except METHOD … { … }`: a location's methods
 * that are let through as they are; any other method (one nginx does not
 * know included) is served with the block's level — an unnamed location
 * inheriting the enclosing one's settings, in which only the directives
 * nginx marks NGX_HTTP_LMT_CONF are allowed (allow, deny, access_log,
 * proxy_pass …). GET lets HEAD through too.
 */

import type { ConfModule } from "../module.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, valueError } from "../values.js";
import { unnamedLocation, type LocationBuild } from "../build-scope.js";

/** ngx_methods_names, the methods limit_except may name. */
const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "MKCOL",
  "COPY",
  "MOVE",
  "OPTIONS",
  "PROPFIND",
  "PROPPATCH",
  "LOCK",
  "UNLOCK",
  "PATCH",
]);

/** What a location's limit_except keeps while it is being read. */
export interface LimitExceptBuild {
  /** The methods let through (upper case), HEAD added with GET. */
  readonly allowed: ReadonlySet<string>;
  /** The block's own level. */
  readonly build: LocationBuild;
}

const builds = new WeakMap<LocationBuild, LimitExceptBuild>();

/** The limit_except block of a location being read, if it has one. */
export function limitExceptOf(location: LocationBuild): LimitExceptBuild | undefined {
  return builds.get(location);
}

const LIMIT_EXCEPT: DirectiveSpec = {
  name: "limit_except",
  contexts: ["location"],
  args: "1more",
  block: true,
  handle: (scope, node, walk) => {
    const parent = scope.location!;
    if (builds.has(parent)) throw directiveError(node, "is duplicate");
    const allowed = new Set<string>();
    for (const arg of node.args) {
      const method = arg.toUpperCase();
      // ngx_strcasecmp against ngx_methods_names.
      if (!METHODS.has(method)) throw valueError(node, `invalid method "${arg}"`);
      allowed.add(method);
    }
    if (allowed.has("GET")) allowed.add("HEAD");
    const build = unnamedLocation(parent, placeOf(node));
    builds.set(parent, { allowed, build });
    walk(node.block!, { ...scope, context: "limit_except", location: build, loc: build.loc, srv: undefined });
  },
};

export const LIMIT_EXCEPT_MODULE: ConfModule = {
  name: "ngx_http_core_module (limit_except)",
  directives: [LIMIT_EXCEPT],
};
