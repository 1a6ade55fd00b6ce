/**
 * ngx_http_charset_filter_module's header filter: the charset named in
 * Content-Type. A response of a type in charset_types and without a charset
 * gets `; charset=NAME`; one with a charset (an upstream's) keeps it unless
 * override_charset is on. Where source_charset (or the response's own
 * charset) differs from the destination, nginx would recode the body with a
 * charset_map, which wsgate does not have: it logs nginx's "no
 * "charset_map"" line and leaves Content-Type alone, as nginx does without
 * a map. 301 and 302 responses never get a charset.
 */

import type { CharsetSetting } from "../config/modules/charset.js";
import type { HttpRequest } from "./request.js";

/** A Content-Type as ngx_http_upstream_copy_content_type() splits it. */
export interface ContentType {
  readonly value: string;
  /** Length of the type before "; charset=" (the whole value without one). */
  readonly typeLength: number;
  /** The charset parameter's value, quotes stripped ("" without one). */
  readonly charset: string;
}

export function splitContentType(value: string): ContentType {
  for (let p = value.indexOf(";"); p !== -1; p = value.indexOf(";", p + 1)) {
    let q = p + 1;
    while (value[q] === " ") q++;
    if (q === value.length) break;
    if (value.slice(q, q + 8).toLowerCase() !== "charset=") continue;
    let start = q + 8;
    if (value[start] === '"') start++;
    let end = value.length;
    if (end > start && value[end - 1] === '"') end--;
    return { value, typeLength: p, charset: value.slice(start, end) };
  }
  return { value, typeLength: value.length, charset: "" };
}

/** What the filter is given: the response's status, its Content-Type, and what else bears on it. */
export interface CharsetInput {
  readonly status: number;
  readonly contentType: ContentType;
  /** X-Accel-Charset of an upstream (r->headers_out.override_charset). */
  readonly overrideCharset?: string | undefined;
  /** A Content-Encoding with a value: nginx does not recode an encoded body. */
  readonly encoded?: boolean | undefined;
  /** What the error log says the request was doing ("while reading response header from upstream"). */
  readonly action?: string | undefined;
}

/** The Content-Type value to send. */
export function charsetContentType(r: HttpRequest, input: CharsetInput): string {
  const type = input.contentType;
  const unchanged = written(type, type.charset);
  const destination = destinationCharset(r, input);
  if (destination === undefined) return unchanged;
  const dst = destination.name;
  let source: { name: string; known: boolean } | undefined;
  if (type.charset !== "") source = { name: type.charset, known: isKnown(r.loc.charset, type.charset) };
  else if (r.loc.sourceCharset !== "off") {
    const name = settingName(r, r.loc.sourceCharset);
    source = { name, known: isKnown(r.loc.sourceCharset, name) };
  }
  if (source === undefined) return set(input, type.value, type.typeLength, dst);
  const same = source.name.toLowerCase() === dst.toLowerCase();
  if (!destination.known || !source.known) {
    // ngx_strncasecmp(dst, src, dst.len): between names nginx does not know, a prefix is enough.
    const prefix = source.name.slice(0, dst.length).toLowerCase() === dst.toLowerCase();
    if (destination.known !== source.known || !prefix) return noMap(r, input, source.name, dst, unchanged);
    return set(input, type.value, type.typeLength, dst);
  }
  if (same) return set(input, type.value.slice(0, type.typeLength), type.typeLength, dst);
  if (input.encoded) return unchanged;
  return noMap(r, input, source.name, dst, unchanged);
}

/** ngx_http_destination_charset(): the charset to name, or undefined where the filter declines. */
function destinationCharset(r: HttpRequest, input: CharsetInput): { name: string; known: boolean } | undefined {
  const conf = r.loc;
  if (input.overrideCharset) {
    const name = input.overrideCharset;
    if (isKnown(conf.charset, name) || isKnown(conf.sourceCharset, name)) return { name, known: true };
    logError(r, input, `unknown charset "${name}" to override`);
    return undefined;
  }
  if (conf.charset === "off") return undefined;
  const type = input.contentType;
  if (type.charset !== "") {
    if (!conf.overrideCharset) return undefined;
  } else if (!typeListed(conf.charsetTypes, type.value.slice(0, type.typeLength))) return undefined;
  const name = settingName(r, conf.charset);
  return { name, known: isKnown(conf.charset, name) };
}

function typeListed(types: readonly string[] | "*", type: string): boolean {
  return types === "*" || types.includes(type.toLowerCase());
}

/** A literal as the charsets array spells it (its first spelling), or the variable's value. */
function settingName(r: HttpRequest, setting: Exclude<CharsetSetting, "off">): string {
  if (!("name" in setting)) return setting.variable.evaluate(r);
  const lower = setting.name.toLowerCase();
  return setting.known.find((known) => known.toLowerCase() === lower) ?? setting.name;
}

/** Whether the http block's charset directives declared `name` (nginx's charsets array). */
function isKnown(setting: CharsetSetting, name: string): boolean {
  if (setting === "off") return false;
  const lower = name.toLowerCase();
  return setting.known.some((known) => known.toLowerCase() === lower);
}

/** ngx_http_set_charset(): the charset named, but never on a 301 or 302; then the header filter writes it. */
function set(input: CharsetInput, value: string, typeLength: number, charset: string): string {
  const redirect = input.status === 301 || input.status === 302;
  return written({ value, typeLength, charset: "" }, redirect ? "" : charset);
}

/** ngx_http_header_filter(): "; charset=" is added only to a type without parameters nginx split off. */
function written(type: ContentType, charset: string): string {
  if (type.typeLength === type.value.length && charset !== "") return `${type.value}; charset=${charset}`;
  return type.value;
}

function noMap(r: HttpRequest, input: CharsetInput, src: string, dst: string, unchanged: string): string {
  logError(r, input, `no "charset_map" between the charsets "${src}" and "${dst}"`);
  return unchanged;
}

function logError(r: HttpRequest, input: CharsetInput, message: string): void {
  r.errorLog()?.log("error", message, r.logContext(input.action));
}
