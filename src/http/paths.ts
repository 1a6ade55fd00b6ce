/**
 * From a URI to a file name, as ngx_http_map_uri_to_path(): `root` appends
 * the URI to the root; a prefix location's `alias` replaces the location's
 * prefix; an alias in a regex location is the whole name (with its
 * captures), the URI added only after try_files chose a file. Values with
 * variables are evaluated per request and made absolute against the prefix.
 */

import { isAbsolute } from "node:path";
import type { DocumentRoot, LocConf } from "../config/model.js";
import type { VariableSource } from "../vars/source.js";

export interface StaticRequest extends VariableSource {
  readonly uri: string;
  readonly loc: LocConf;
  /** Set by try_files in a regex location with alias: the URI is appended to the alias. */
  readonly addUriToAlias: boolean;
}

/** $document_root: the root or alias in force, evaluated. */
export function documentRoot(r: VariableSource, root: DocumentRoot): string {
  if (typeof root.path === "string") return root.path;
  const value = root.path.evaluate(r);
  // ngx_get_full_name(): the prefix and the name, side by side.
  return isAbsolute(value) ? value : `${root.prefix}/${value}`;
}

export interface MappedPath {
  /** The file name. */
  readonly path: string;
  /** How much of `path` is the root (the rest is the URI part). */
  readonly rootLength: number;
}

export function mapUriToPath(r: StaticRequest): MappedPath {
  const root = r.loc.root;
  const base = documentRoot(r, root);
  if (root.alias === "regex") {
    return r.addUriToAlias ? { path: base + r.uri, rootLength: base.length } : { path: base, rootLength: base.length };
  }
  return { path: base + r.uri.slice(root.alias), rootLength: base.length };
}
