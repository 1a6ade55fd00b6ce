/**
 * The directives of serving files: ngx_http_core_module's root, alias,
 * try_files, etag, if_modified_since, max_ranges, log_not_found and the
 * redirect settings; ngx_http_index_module's index; ngx_http_autoindex_module's
 * autoindex, autoindex_format, autoindex_exact_size and autoindex_localtime;
 * ngx_http_stub_status_module's stub_status. The handlers live in src/static/.
 */

import type { BuildScope } from "../build-scope.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { HTTP_CONTEXTS, placeOf, type Context, type DirectiveSpec } from "../table.js";
import { resolveFromPrefix } from "../paths.js";
import { directiveError, locFlag, parseNumber, setOnce, valueError } from "../values.js";
import { ComplexValue } from "../../vars/complex-value.js";

export interface StaticLocConf {
  root: DocumentRoot;
  index: readonly IndexName[];
  etag: boolean;
  ifModifiedSince: "off" | "exact" | "before";
  maxRanges: number;
  logNotFound: boolean;
  /** autoindex: a directory without an index file is listed rather than refused (403). */
  autoindex: boolean;
  autoindexFormat: AutoindexFormat;
  autoindexExactSize: boolean;
  autoindexLocaltime: boolean;
}

/** autoindex_format's values (ngx_http_autoindex_format). */
export type AutoindexFormat = "html" | "xml" | "json" | "jsonp";
const AUTOINDEX_FORMATS: ReadonlySet<string> = new Set(["html", "xml", "json", "jsonp"]);

/**
 * `root` or `alias` (ngx_http_core_root): the path a URI maps to. `alias` is
 * 0 for root, the location prefix's length for a prefix location's alias, and
 * "regex" for an alias in a regex location (the alias is then the whole path).
 */
export interface DocumentRoot {
  readonly alias: number | "regex";
  /** Absolute path without variables, or the compiled value (resolved against the prefix at run time). */
  readonly path: string | ComplexValue;
  /** The prefix a relative evaluated path resolves against. */
  readonly prefix: string;
}

/** One `index` name: literal, or with variables. */
export interface IndexName {
  readonly name: string;
  readonly value: ComplexValue | undefined;
}

/** `try_files`: the candidates, then what to do when none exists. */
export interface TryFiles {
  readonly candidates: ReadonlyArray<{ readonly value: ComplexValue; readonly testDir: boolean }>;
  /** A status code (`=404`), or a URI or `@name` to go to. */
  readonly fallback: { readonly code: number } | { readonly uri: ComplexValue };
}

const ROOT_CONTEXTS: readonly Context[] = ["http", "server", "location", "if-in-location"];

const STATIC_DIRECTIVES: readonly DirectiveSpec[] = [
  { name: "root", contexts: ROOT_CONTEXTS, args: [1], handle: (scope, node) => setRoot(scope, node, false) },
  { name: "alias", contexts: ["location"], args: [1], handle: (scope, node) => setRoot(scope, node, true) },
  {
    name: "index",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      const names = node.args.map((name): IndexName => {
        // nginx names the first argument whichever is empty.
        if (name === "") throw valueError(node, `index "${node.args[0]!}" in "index" directive is invalid`);
        const value = name.includes("$") ? ComplexValue.compile(name, scope.http!.registry, placeOf(node)) : undefined;
        return { name, value };
      });
      // Several index directives at one level add up, as in nginx.
      scope.loc!.index = [...(scope.loc!.index ?? []), ...names];
    },
  },
  {
    name: "try_files",
    contexts: ["server", "location"],
    args: "2more",
    handle: (scope, node) => {
      const owner = scope.location ?? scope.server!;
      if (owner.tryFiles) throw directiveError(node, "is duplicate");
      owner.tryFiles = parseTryFiles(scope, node);
    },
  },
  locFlag("etag", "etag"),
  locFlag("log_not_found", "logNotFound"),
  {
    name: "if_modified_since",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      const value = node.args[0]!;
      if (value !== "off" && value !== "exact" && value !== "before") {
        throw valueError(node, `invalid value "${value}"`);
      }
      setOnce(scope.loc!, "ifModifiedSince", value, node);
    },
  },
  {
    name: "max_ranges",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => setOnce(scope.loc!, "maxRanges", parseNumber(node, node.args[0]!), node),
  },
  locFlag("autoindex", "autoindex"),
  {
    // ngx_conf_set_enum_slot: an unknown value is "invalid value", without the directive's name.
    name: "autoindex_format",
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      const value = node.args[0]!;
      if (!AUTOINDEX_FORMATS.has(value)) throw valueError(node, `invalid value "${value}"`);
      setOnce(scope.loc!, "autoindexFormat", value as AutoindexFormat, node);
    },
  },
  locFlag("autoindex_localtime", "autoindexLocaltime"),
  locFlag("autoindex_exact_size", "autoindexExactSize"),
  {
    // nginx 1.28 takes an optional argument and ignores it.
    name: "stub_status",
    contexts: ["server", "location"],
    args: [0, 1],
    handle: (scope) => {
      (scope.location ?? scope.server!).stubStatus = true;
    },
  },
];

export const STATIC_MODULE: ConfModule<StaticLocConf> = {
  name: "static",
  directives: STATIC_DIRECTIVES,
  createLoc: ({ prefixes }) => ({
    root: { alias: 0, path: resolveFromPrefix(prefixes.prefix, "html"), prefix: prefixes.prefix },
    index: [{ name: "index.html", value: undefined }],
    etag: true,
    ifModifiedSince: "exact",
    maxRanges: 0x7fffffff,
    logNotFound: true,
    autoindex: false,
    autoindexFormat: "html",
    autoindexExactSize: true,
    autoindexLocaltime: false,
  }),
};

/** ngx_http_core_root(): `root path` or `alias path`, with nginx's checks. */
function setRoot(scope: BuildScope, node: DirectiveNode, alias: boolean): void {
  const conf = scope.loc!;
  if (conf.root !== undefined) {
    if ((conf.root.alias !== 0) === alias) throw directiveError(node, "is duplicate");
    throw valueError(
      node,
      `"${node.name}" directive is duplicate, "${conf.root.alias !== 0 ? "alias" : "root"}" directive was specified earlier`,
    );
  }
  const location = scope.location;
  if (alias && location?.modifier === "@") {
    throw valueError(node, `the "alias" directive cannot be used inside the named location`);
  }
  let value = node.args[0]!;
  for (const name of ["document_root", "realpath_root"]) {
    if (value.includes(`$${name}`) || value.includes(`\${${name}}`)) {
      throw valueError(node, `the $${name} variable cannot be used in the "${node.name}" directive`);
    }
  }
  if (!alias && value.length > 0 && value.endsWith("/")) value = value.slice(0, -1);
  const prefix = scope.prefixes.prefix;
  // A value that starts with a variable is not made absolute at load time (it is at run time).
  if (!value.startsWith("$")) value = resolveFromPrefix(prefix, value);
  const regexAlias = alias && location?.regex !== undefined;
  const aliasLength: DocumentRoot["alias"] = !alias ? 0 : regexAlias ? "regex" : location!.path.length;
  const path =
    value.includes("$") || regexAlias ? ComplexValue.compile(value, scope.http!.registry, placeOf(node)) : value;
  conf.root = { alias: aliasLength, path, prefix };
}

/** ngx_http_core_try_files(): a `/` at the end of a candidate (but the last) tests for a directory. */
function parseTryFiles(scope: BuildScope, node: DirectiveNode): TryFiles {
  const registry = scope.http!.registry;
  const place = placeOf(node);
  const candidates = node.args.slice(0, -1).map((arg) => {
    const testDir = arg.endsWith("/");
    const name = testDir ? arg.slice(0, -1) : arg;
    return { value: ComplexValue.compile(name, registry, place), testDir };
  });
  const last = node.args[node.args.length - 1]!;
  if (last.startsWith("=")) {
    const digits = last.slice(1);
    const code = /^\d+$/.test(digits) ? Number(digits) : NaN;
    if (!(code <= 999)) throw valueError(node, `invalid code "${last}"`);
    return { candidates, fallback: { code } };
  }
  return { candidates, fallback: { uri: ComplexValue.compile(last, registry, place) } };
}
