/**
 * ngx_http_auth_jwt_module as nginx.org documents it (the commercial
 * module; open-source nginx has none, so `-V` names no switch for it):
 * `auth_jwt`, `auth_jwt_key_file`, `auth_jwt_key_request`,
 * `auth_jwt_key_cache`, `auth_jwt_type`, `auth_jwt_leeway`,
 * `auth_jwt_require`, `auth_jwt_claim_set`, `auth_jwt_header_set`. The
 * check runs in the access phase after auth_basic (http/auth-jwt.ts).
 *
 * Rows as the documentation gives them (syntax, contexts, defaults):
 * auth_jwt, auth_jwt_key_file, auth_jwt_type and auth_jwt_require in http,
 * server, location and limit_except; auth_jwt_leeway in http, server,
 * location; auth_jwt_claim_set and auth_jwt_header_set in http only, where
 * they define a variable; auth_jwt_key_request in the contexts of
 * auth_jwt_key_file, auth_jwt_key_cache in http, server, location. Several
 * auth_jwt_key_file and auth_jwt_key_request (1.21.1) and several
 * auth_jwt_require are allowed on one level; key files and key requests
 * make one list of key sources, and a level that has any replaces the list
 * it would inherit, as nginx merges arrays.
 *
 * Not here: `auth_jwt_type encrypted|nested` (JWE) is refused.
 */

import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf, type Context, type DirectiveSpec } from "../table.js";
import { directiveError, parseTimeMs, setOnce, valueError } from "../values.js";
import { resolveFromPrefix } from "../paths.js";
import { ConfigError } from "../../core/errors.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { jwtPathGetter } from "../../vars/jwt-variables.js";
import { readKeySet, type JwtKey } from "./auth-jwt-keys.js";

/** NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF. */
const JWT_CONTEXTS: readonly Context[] = ["http", "server", "location", "limit_except"];

/** `auth_jwt`: off, or the realm with the token's source (the Authorization header when `token` is undefined). */
export type AuthJwtSetting =
  | { readonly off: true }
  | { readonly off: false; readonly realm: ComplexValue; readonly token: ComplexValue | undefined };

/**
 * One `auth_jwt_key_file` (keys read at load, or a path with variables read per request) or one
 * `auth_jwt_key_request` (a key set fetched by a subrequest to the URI).
 */
export type JwtKeySource =
  | { readonly kind: "loaded"; readonly path: string; readonly keys: readonly JwtKey[] }
  | { readonly kind: "per-request"; readonly path: ComplexValue; readonly confPrefix: string }
  | { readonly kind: "request"; readonly uri: ComplexValue };

/** One `auth_jwt_require`: every value non-empty and not "0", else `status`. */
export interface JwtRequirement {
  readonly values: readonly ComplexValue[];
  readonly status: 401 | 403;
}

export interface AuthJwtLocConf {
  authJwt: AuthJwtSetting | undefined;
  authJwtKeySources: readonly JwtKeySource[] | undefined;
  /** auth_jwt_key_cache: how long keys read per request (a key request, a key file with variables) are kept; 0: not. */
  authJwtKeyCacheMs: number;
  authJwtType: "signed" | undefined;
  /** auth_jwt_leeway, in milliseconds (whole seconds, as nginx's ngx_conf_set_sec_slot). */
  authJwtLeewayMs: number;
  authJwtRequire: readonly JwtRequirement[] | undefined;
}

/** The realm for `auth_jwt REALM [token=$variable]`, or off. */
function parseAuthJwt(node: DirectiveNode, compile: (text: string) => ComplexValue): AuthJwtSetting {
  const [realm, parameter] = node.args as [string, string | undefined];
  if (realm === "off" && parameter === undefined) return { off: true };
  let token: ComplexValue | undefined;
  if (parameter !== undefined) {
    if (!parameter.startsWith("token=")) throw valueError(node, `invalid parameter "${parameter}"`);
    const variable = parameter.slice("token=".length);
    if (!variable.startsWith("$") || variable.length === 1) {
      throw valueError(node, `invalid variable name "${variable}"`);
    }
    token = compile(variable);
  }
  return { off: false, realm: compile(realm), token };
}

/** `auth_jwt_require $value ... [error=401|403]`. */
function parseRequire(node: DirectiveNode, compile: (text: string) => ComplexValue): JwtRequirement {
  const args = [...node.args];
  let status: 401 | 403 = 401;
  const last = args[args.length - 1]!;
  if (last.startsWith("error=")) {
    const code = last.slice("error=".length);
    if (code !== "401" && code !== "403") throw valueError(node, `invalid parameter "${last}"`);
    status = code === "401" ? 401 : 403;
    args.pop();
  }
  if (args.length === 0) throw directiveError(node, "has no values");
  // "The value ... must start with a variable" (1.21.7).
  for (const value of args) {
    if (!value.startsWith("$")) throw valueError(node, `invalid parameter "${value}"`);
  }
  return { values: args.map(compile), status };
}

function keySource(node: DirectiveNode, confPrefix: string, compile: (text: string) => ComplexValue): JwtKeySource {
  const text = node.args[0]!;
  // ngx_http_compile_complex_value(): a value not starting with "$" gets the prefix now.
  const path = text.startsWith("$") ? text : resolveFromPrefix(confPrefix, text);
  if (path.includes("$")) return { kind: "per-request", path: compile(path), confPrefix };
  const set = readKeySet(path);
  if ("error" in set) throw valueError(node, set.error);
  return { kind: "loaded", path, keys: set.keys };
}

/** `auth_jwt_claim_set` / `auth_jwt_header_set`: a variable read from the token's claims or header. */
function variableSpec(name: string, part: "claims" | "header"): DirectiveSpec {
  return {
    name,
    contexts: ["http"],
    args: "2more",
    handle: (scope, node) => {
      const registry = scope.http!.registry;
      const [target, ...path] = node.args as [string, ...string[]];
      if (!target.startsWith("$") || target.length === 1) throw valueError(node, `invalid variable name "${target}"`);
      const variable = target.slice(1);
      if (registry.isDefined(variable)) throw valueError(node, `the duplicate "${variable.toLowerCase()}" variable`);
      registry.define(variable, jwtPathGetter(part, path), false);
    },
  };
}

export const AUTH_JWT_MODULE: ConfModule<AuthJwtLocConf> = {
  name: "ngx_http_auth_jwt_module",
  directives: [
    {
      name: "auth_jwt",
      contexts: JWT_CONTEXTS,
      args: [1, 2],
      handle: (scope, node) => {
        const compile = (text: string): ComplexValue => ComplexValue.compile(text, scope.http!.registry, placeOf(node));
        setOnce(scope.loc!, "authJwt", parseAuthJwt(node, compile), node);
      },
    },
    {
      name: "auth_jwt_key_file",
      contexts: JWT_CONTEXTS,
      args: [1],
      handle: (scope, node) => {
        const compile = (text: string): ComplexValue => ComplexValue.compile(text, scope.http!.registry, placeOf(node));
        const source = keySource(node, scope.prefixes.confPrefix, compile);
        scope.loc!.authJwtKeySources = [...(scope.loc!.authJwtKeySources ?? []), source];
      },
    },
    {
      name: "auth_jwt_key_request",
      contexts: JWT_CONTEXTS,
      args: [1],
      handle: (scope, node) => {
        const uri = ComplexValue.compile(node.args[0]!, scope.http!.registry, placeOf(node));
        scope.loc!.authJwtKeySources = [...(scope.loc!.authJwtKeySources ?? []), { kind: "request", uri }];
      },
    },
    {
      name: "auth_jwt_key_cache",
      contexts: ["http", "server", "location"],
      args: [1],
      handle: (scope, node) => {
        const value = node.args[0]!;
        // ngx_conf_set_sec_slot(), as auth_jwt_leeway.
        if (value.includes("ms")) throw directiveError(node, "invalid value");
        setOnce(scope.loc!, "authJwtKeyCacheMs", parseTimeMs(node, value), node);
      },
    },
    {
      name: "auth_jwt_type",
      contexts: JWT_CONTEXTS,
      args: [1],
      handle: (scope, node) => {
        const value = node.args[0]!;
        if (value === "encrypted" || value === "nested") {
          throw new ConfigError(
            "unsupported",
            `"${node.name}" directive "${value}" is not supported: wsgate supports signed tokens (JWS) only`,
            placeOf(node),
          );
        }
        if (value !== "signed") throw valueError(node, `invalid value "${value}" in "${node.name}" directive`);
        setOnce(scope.loc!, "authJwtType", "signed", node);
      },
    },
    {
      name: "auth_jwt_leeway",
      contexts: ["http", "server", "location"],
      args: [1],
      handle: (scope, node) => {
        const value = node.args[0]!;
        // ngx_conf_set_sec_slot(): ngx_parse_time() in seconds takes no "ms".
        if (value.includes("ms")) throw directiveError(node, "invalid value");
        setOnce(scope.loc!, "authJwtLeewayMs", parseTimeMs(node, value), node);
      },
    },
    {
      name: "auth_jwt_require",
      contexts: JWT_CONTEXTS,
      args: "1more",
      handle: (scope, node) => {
        const compile = (text: string): ComplexValue => ComplexValue.compile(text, scope.http!.registry, placeOf(node));
        scope.loc!.authJwtRequire = [...(scope.loc!.authJwtRequire ?? []), parseRequire(node, compile)];
      },
    },
    variableSpec("auth_jwt_claim_set", "claims"),
    variableSpec("auth_jwt_header_set", "header"),
  ] satisfies DirectiveSpec[],
  createLoc: () => ({
    authJwt: undefined,
    authJwtKeySources: undefined,
    authJwtKeyCacheMs: 0,
    authJwtType: undefined,
    authJwtLeewayMs: 0,
    authJwtRequire: undefined,
  }),
};
