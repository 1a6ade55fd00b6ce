/**
 * ngx_http_charset_module's settings: `charset`, `source_charset`,
 * `override_charset`, `charset_types`. `charset_map` (recoding tables) is
 * not implemented: wsgate names the charset in Content-Type but never
 * recodes a body, so the directive is refused as not supported by wsgate.
 */

import { ConfigError } from "../../core/errors.js";
import type { ConfModule } from "../module.js";
import type { LocConf, LocationConf, ServerConf } from "../model.js";
import type { HttpBuild } from "../build-scope.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_ALL_WITH_IF, HTTP_CONTEXTS, placeOf, type DirectiveSpec } from "../table.js";
import { configWarning, directiveError, locFlag } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";

/**
 * A charset of `charset` or `source_charset`: "off", a name, or a variable.
 * `known` is the http block's list of names written in those directives
 * (nginx's charsets array): a name read per request is "known" when in it.
 */
export type CharsetSetting =
  | "off"
  | { readonly name: string; readonly known: readonly string[] }
  | { readonly variable: ComplexValue; readonly known: readonly string[] };

export interface CharsetLocConf {
  charset: CharsetSetting;
  sourceCharset: CharsetSetting;
  overrideCharset: boolean;
  /** Lower-case MIME types, or "*" for any. */
  charsetTypes: readonly string[] | "*";
}

/** ngx_http_charset_default_types. */
export const DEFAULT_CHARSET_TYPES: readonly string[] = [
  "text/html",
  "text/xml",
  "text/plain",
  "text/vnd.wap.wml",
  "application/javascript",
  "application/rss+xml",
];

/** Per http block, the names its charset directives declared (the list is filled while reading). */
const declared = new WeakMap<HttpBuild, string[]>();

function knownNames(http: HttpBuild): string[] {
  let names = declared.get(http);
  if (names === undefined) declared.set(http, (names = []));
  return names;
}

/** ngx_http_set_charset_slot(): once per level; `off` only for `charset`; "$name" a variable. */
function charsetRow(name: string, key: "charset" | "sourceCharset"): DirectiveSpec {
  return {
    name,
    contexts: HTTP_ALL_WITH_IF,
    args: [1],
    handle: (scope, node) => {
      const loc = scope.loc!;
      if (loc[key] !== undefined) throw directiveError(node, "is duplicate");
      const value = node.args[0]!;
      const known = knownNames(scope.http!);
      if (key === "charset" && value === "off") loc[key] = "off";
      else if (value.startsWith("$")) {
        loc[key] = { variable: ComplexValue.compile(value, scope.http!.registry, placeOf(node)), known };
      } else {
        // ngx_http_add_charset(): one entry per name, compared without case.
        if (!known.some((other) => other.toLowerCase() === value.toLowerCase())) known.push(value);
        loc[key] = { name: value, known };
      }
    },
  };
}

/**
 * ngx_http_types_slot() with text/html first: the lines of one level add up;
 * `*` makes it any type; a type given twice is a warning.
 */
function typesRow(name: string): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node: DirectiveNode) => {
      const loc = scope.loc!;
      if (loc.charsetTypes === "*") return;
      const types = loc.charsetTypes === undefined ? [DEFAULT_CHARSET_TYPES[0]!] : [...loc.charsetTypes];
      for (const arg of node.args) {
        if (arg === "*") {
          loc.charsetTypes = "*";
          return;
        }
        const type = arg.toLowerCase();
        if (types.includes(type)) configWarning(scope, node, `duplicate MIME type "${type}"`);
        else types.push(type);
      }
      loc.charsetTypes = types;
    },
  };
}

export const CHARSET_MODULE: ConfModule<CharsetLocConf> = {
  name: "ngx_http_charset_module",
  directives: [
    charsetRow("charset", "charset"),
    charsetRow("source_charset", "sourceCharset"),
    locFlag("override_charset", "overrideCharset", HTTP_ALL_WITH_IF),
    typesRow("charset_types"),
  ],
  finalizeServers: (servers) => checkRecodes(servers),
  createLoc: () => ({
    charset: "off",
    sourceCharset: "off",
    overrideCharset: false,
    charsetTypes: DEFAULT_CHARSET_TYPES,
  }),
};

/**
 * ngx_http_charset_postconfiguration(): a level whose source_charset and
 * charset are two different names needs a charset_map between them, which
 * wsgate never has; the first such pair, in the order levels are merged,
 * stops the configuration as it stops nginx's.
 */
function checkRecodes(servers: readonly ServerConf[]): void {
  const check = (loc: LocConf): void => {
    const { charset, sourceCharset } = loc;
    if (charset === "off" || sourceCharset === "off" || !("name" in charset) || !("name" in sourceCharset)) return;
    if (charset.name.toLowerCase() === sourceCharset.name.toLowerCase()) return;
    // The names as the charsets array holds them: first spelling wins.
    const spelled = (name: string): string =>
      charset.known.find((known) => known.toLowerCase() === name.toLowerCase()) ?? name;
    const message = `no "charset_map" between the charsets "${spelled(sourceCharset.name)}" and "${spelled(charset.name)}"`;
    throw new ConfigError("invalid-value", message);
  };
  const walk = (locations: readonly LocationConf[]): void => {
    for (const location of locations) {
      check(location.loc);
      walk(location.locations);
      for (const code of location.rewrite ?? []) if (code.kind === "if" && code.location) check(code.location.loc);
    }
  };
  for (const server of servers) {
    check(server.loc);
    walk(server.locations);
  }
}
