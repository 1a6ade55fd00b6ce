/**
 * ngx_http_headers_module's expires and add_header, and the core module's settings of
 * responses wsgate makes itself: error_page, recursive_error_pages,
 * absolute_redirect, port_in_redirect, server_name_in_redirect.
 */

import type { ConfModule } from "../module.js";
import { HTTP_ALL_WITH_IF, placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, locFlag, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { parseExpires, type ExpiresValue } from "./expires-value.js";

export interface HeadersLocConf {
  /** `expires` of the nearest level that has one; kind "off" where none has. */
  expires: Expires;
  /** add_header lines of the nearest level that has any. */
  addHeaders: readonly AddHeader[];
  /** error_page lines of the nearest level that has any. */
  errorPages: readonly ErrorPage[];
  recursiveErrorPages: boolean;
  absoluteRedirect: boolean;
  portInRedirect: boolean;
  serverNameInRedirect: boolean;
}

/** `add_header name value [always]`. */
export interface AddHeader {
  readonly name: string;
  readonly value: ComplexValue;
  readonly always: boolean;
}

/**
 * `expires [modified] time|epoch|max|off`. An argument with variables is
 * read per request (`value`, with `kind` access or modified and `seconds` 0).
 */
export interface Expires extends ExpiresValue {
  readonly value?: ComplexValue | undefined;
}

/** One status of an `error_page` line. */
export interface ErrorPage {
  readonly status: number;
  /** -1 without "=", 0 for a bare "=" (the redirected response's status), else the status after "=". */
  readonly overwrite: number;
  readonly uri: ComplexValue;
}

const HEADERS_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "expires",
    contexts: HTTP_ALL_WITH_IF,
    args: [1, 2],
    handle: (scope, node) => {
      if (scope.loc!.expires !== undefined) throw directiveError(node, "is duplicate");
      let kind: "access" | "modified" = "access";
      if (node.args.length === 2) {
        if (node.args[0] !== "modified") throw directiveError(node, "invalid value");
        kind = "modified";
      }
      const text = node.args[node.args.length - 1]!;
      // ngx_http_compile_complex_value(): any "$" makes it a value read per request.
      if (text.includes("$")) {
        const value = ComplexValue.compile(text, scope.http!.registry, placeOf(node));
        scope.loc!.expires = { kind, seconds: 0, value };
        return;
      }
      const parsed = parseExpires(text, kind);
      if (typeof parsed === "string") throw directiveError(node, parsed);
      scope.loc!.expires = parsed;
    },
  },
  {
    name: "add_header",
    contexts: HTTP_ALL_WITH_IF,
    args: [2, 3],
    handle: (scope, node) => {
      const [name, value, always] = node.args as [string, string, string | undefined];
      if (always !== undefined && always !== "always") throw valueError(node, `invalid parameter "${always}"`);
      const list = (scope.loc!.addHeaders ??= []) as AddHeader[];
      const place = placeOf(node);
      list.push({
        name,
        value: ComplexValue.compile(value, scope.http!.registry, place),
        always: always !== undefined,
      });
    },
  },
  {
    name: "error_page",
    contexts: HTTP_ALL_WITH_IF,
    args: "2more",
    handle: (scope, node) => {
      const args = node.args;
      let codesEnd = args.length - 1;
      let overwrite = -1;
      const equal = args[args.length - 2]!;
      if (equal.startsWith("=")) {
        if (args.length - 2 === 0) throw valueError(node, `invalid value "${equal}"`);
        if (equal.length > 1) {
          if (!/^\d+$/.test(equal.slice(1))) throw valueError(node, `invalid value "${equal}"`);
          overwrite = Number(equal.slice(1));
        } else overwrite = 0;
        codesEnd--;
      }
      const uri = ComplexValue.compile(args[args.length - 1]!, scope.http!.registry, placeOf(node));
      const list = (scope.loc!.errorPages ??= []) as ErrorPage[];
      for (let i = 0; i < codesEnd; i++) {
        const text = args[i]!;
        const status = /^\d+$/.test(text) ? Number(text) : NaN;
        if (Number.isNaN(status) || status === 499) throw valueError(node, `invalid value "${text}"`);
        if (status < 300 || status > 599) throw valueError(node, `value "${text}" must be between 300 and 599`);
        // Statuses nginx answers as 400 keep 400 on their error page.
        const own = overwrite === -1 && [494, 495, 496, 497].includes(status) ? 400 : overwrite;
        list.push({ status, overwrite: own, uri });
      }
    },
  },
  // Off: an error while answering with an error page is answered plainly (r->error_page).
  locFlag("recursive_error_pages", "recursiveErrorPages"),
  locFlag("absolute_redirect", "absoluteRedirect"),
  locFlag("port_in_redirect", "portInRedirect"),
  locFlag("server_name_in_redirect", "serverNameInRedirect"),
];

export const HEADERS_MODULE: ConfModule<HeadersLocConf> = {
  name: "ngx_http_headers_module",
  directives: HEADERS_DIRECTIVES,
  createLoc: () => ({
    expires: { kind: "off", seconds: 0 },
    addHeaders: [],
    errorPages: [],
    recursiveErrorPages: false,
    absoluteRedirect: true,
    portInRedirect: true,
    serverNameInRedirect: false,
  }),
};
