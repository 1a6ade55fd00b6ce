/**
 * ngx_http_auth_basic_module: `auth_basic off|realm` and
 * `auth_basic_user_file file`, both with variables; the check runs in the
 * access phase (http/auth-basic.ts) with allow/deny under `satisfy`.
 */

import { isAbsolute } from "node:path";
import type { ConfModule } from "../module.js";
import { placeOf, type Context, type DirectiveSpec } from "../table.js";
import { directiveError } from "../values.js";
import { resolveFromPrefix } from "../paths.js";
import { ComplexValue } from "../../vars/complex-value.js";

/** NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF. */
const AUTH_CONTEXTS: readonly Context[] = ["http", "server", "location", "limit_except"];

export interface AuthBasicLocConf {
  /** The realm ("off" turns the check off); undefined where no level sets it. */
  authBasic: ComplexValue | undefined;
  authBasicUserFile: UserFile | undefined;
}

/**
 * The password file. A path without variables was made absolute against the
 * configuration's directory when read; one that starts with a variable is
 * made absolute per request against `confPrefix` (ccv.conf_prefix).
 */
export interface UserFile {
  readonly path: ComplexValue;
  readonly confPrefix: string;
}

/** The file's path for this request. */
export function userFilePath(file: UserFile, evaluated: string): string {
  return isAbsolute(evaluated) ? evaluated : resolveFromPrefix(file.confPrefix, evaluated);
}

export const AUTH_BASIC_MODULE: ConfModule<AuthBasicLocConf> = {
  name: "ngx_http_auth_basic_module",
  directives: [
    {
      name: "auth_basic",
      contexts: AUTH_CONTEXTS,
      args: [1],
      handle: (scope, node) => {
        if (scope.loc!.authBasic !== undefined) throw directiveError(node, "is duplicate");
        scope.loc!.authBasic = ComplexValue.compile(node.args[0]!, scope.http!.registry, placeOf(node));
      },
    },
    {
      name: "auth_basic_user_file",
      contexts: AUTH_CONTEXTS,
      args: [1],
      handle: (scope, node) => {
        if (scope.loc!.authBasicUserFile !== undefined) throw directiveError(node, "is duplicate");
        const confPrefix = scope.prefixes.confPrefix;
        let text = node.args[0]!;
        // ngx_http_compile_complex_value(): a value not starting with "$" gets the prefix now.
        if (!text.startsWith("$")) text = resolveFromPrefix(confPrefix, text);
        const path = ComplexValue.compile(text, scope.http!.registry, placeOf(node));
        scope.loc!.authBasicUserFile = { path, confPrefix };
      },
    },
  ] satisfies DirectiveSpec[],
  createLoc: () => ({ authBasic: undefined, authBasicUserFile: undefined }),
};
