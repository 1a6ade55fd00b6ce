/**
 * The Content-Type of a file, as ngx_http_set_exten() and
 * ngx_http_set_content_type(): the URI's extension (after the last dot of the
 * last segment, a leading dot not counting), looked up lower-cased in the
 * `types` map in force, else `default_type`.
 */

import type { LocConf } from "../config/model.js";

export function uriExtension(uri: string): string {
  for (let i = uri.length - 1; i > 1; i--) {
    const ch = uri[i];
    if (ch === "." && uri[i - 1] !== "/") return uri.slice(i + 1);
    if (ch === "/") return "";
  }
  return "";
}

export function contentTypeFor(uri: string, loc: Pick<LocConf, "types" | "defaultType">): string {
  const extension = uriExtension(uri);
  if (extension !== "") {
    const type = loc.types.get(extension.toLowerCase());
    if (type !== undefined) return type;
  }
  return loc.defaultType;
}
