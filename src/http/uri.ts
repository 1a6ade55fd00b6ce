/**
 * The request target to nginx's $uri and $args (ngx_http_parse_complex_uri):
 * percent-decoded, `//` merged (merge_slashes), `.` and `..` resolved. A path
 * that climbs above the root, or a bad escape, is refused (400), so no
 * encoding reaches a location it should not.
 */

import { parseAuthority } from "./host.js";

export interface ParsedTarget {
  readonly path: string;
  readonly args: string;
  /** The target's path and query exactly as sent (for an absolute-form target, without scheme and host). */
  readonly unparsed: string;
}

export function parseTarget(target: string, mergeSlashes: boolean): ParsedTarget | undefined {
  let unparsed = target;
  if (!target.startsWith("/")) {
    // Absolute form (checked when the request line was read): the path after the authority.
    const authority = parseAuthority(target);
    if (!authority) return undefined;
    unparsed = target.slice(authority.pathStart);
    if (!unparsed.startsWith("/")) unparsed = "/" + unparsed;
  }
  const question = unparsed.indexOf("?");
  const rawPath = question === -1 ? unparsed : unparsed.slice(0, question);
  const args = question === -1 ? "" : unparsed.slice(question + 1);
  const hash = rawPath.indexOf("#");
  const pathPart = hash === -1 ? rawPath : rawPath.slice(0, hash);
  const decoded = percentDecode(pathPart);
  if (decoded === undefined) return undefined;
  const path = normalizePath(decoded, mergeSlashes);
  if (path === undefined) return undefined;
  return { path, args, unparsed };
}

function percentDecode(text: string): string | undefined {
  if (!text.includes("%")) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== "%") {
      out += ch;
      continue;
    }
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const code = parseInt(hex, 16);
    // nginx refuses an encoded NUL in the path.
    if (code === 0) return undefined;
    out += String.fromCharCode(code);
    i += 2;
  }
  return out;
}

function normalizePath(path: string, mergeSlashes: boolean): string | undefined {
  const segments = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === ".") {
      if (last) out.push("");
      continue;
    }
    if (segment === "..") {
      if (out.length === 0) return undefined;
      out.pop();
      if (last) out.push("");
      continue;
    }
    if (segment === "" && mergeSlashes && !last) continue;
    out.push(segment);
  }
  return "/" + out.join("/");
}

/** Escaped besides controls, space, DEL and bytes >= 0x80 (nginx's table since 1.21.1 adds `"<>\^{|}` and the backquote). */
const URI_ESCAPED = new Set([...'"#%<>?\\^`{|}'].map((ch) => ch.charCodeAt(0)));

/** nginx's escaping of a URI it passes on after changing it (ngx_escape_uri, NGX_ESCAPE_URI). */
export function escapeUri(path: string): string {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f || URI_ESCAPED.has(code)) {
      out += "%" + code.toString(16).toUpperCase().padStart(2, "0");
    } else out += path[i];
  }
  return out;
}
