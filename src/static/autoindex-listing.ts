/**
 * The bodies of ngx_http_autoindex_module's listings, byte for byte as nginx
 * writes them: html (ngx_http_autoindex_html: names cut at 50 characters with
 * "..&gt;", padded, then the date and the size), json and jsonp
 * (ngx_http_autoindex_json) and xml (ngx_http_autoindex_xml). Names are the
 * directory's bytes as read, so a name that is not UTF-8 comes out as nginx
 * gives it; entries are sorted as ngx_http_autoindex_cmp_entries sorts them.
 */

import { formatHttpDate } from "../vars/time.js";

export interface ListingEntry {
  /** The name's bytes. */
  readonly name: Buffer;
  readonly dir: boolean;
  /** A regular file (json's "file", xml's <file>; anything else is "other"). */
  readonly file: boolean;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly size: number;
}

/** NGX_HTTP_AUTOINDEX_NAME_LEN: html's column of names. */
const NAME_LEN = 50;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Directories first, then by the names' bytes (strcmp). */
export function sortEntries(entries: ListingEntry[]): void {
  entries.sort((a, b) => (a.dir !== b.dir ? (a.dir ? -1 : 1) : Buffer.compare(a.name, b.name)));
}

export interface HtmlOptions {
  /** r->uri, as bytes. */
  readonly uri: Buffer;
  /** The response's charset is utf-8: names are measured and cut in characters, not bytes. */
  readonly utf8: boolean;
  readonly exactSize: boolean;
  /** autoindex_localtime: the current UTC offset in minutes (tp->gmtoff), else 0. */
  readonly gmtoffMinutes: number;
}

export function htmlListing(entries: readonly ListingEntry[], options: HtmlOptions): Buffer {
  const uri = escapeHtml(options.uri);
  const parts: Buffer[] = [
    ascii("<html>\r\n<head><title>Index of "),
    uri,
    ascii("</title></head>\r\n<body>\r\n<h1>Index of "),
    uri,
    ascii('</h1><hr><pre><a href="../">../</a>\r\n'),
  ];
  for (const entry of entries) {
    parts.push(ascii('<a href="'), escapeUriComponent(entry.name), ascii(entry.dir ? '/">' : '">'));
    parts.push(htmlName(entry, options.utf8));
    const date = new Date((entry.mtime + options.gmtoffMinutes * 60) * 1000);
    parts.push(
      ascii(
        ` ${pad2(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]!}-${date.getUTCFullYear()} ` +
          `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())} ${sizeColumn(entry, options.exactSize)}\r\n`,
      ),
    );
  }
  parts.push(ascii("</pre><hr></body>\r\n</html>\r\n"));
  return Buffer.concat(parts);
}

/** The link's text and its padding: "name</a>" then spaces to the column, or a cut name with "..&gt;</a>". */
function htmlName(entry: ListingEntry, utf8: boolean): Buffer {
  const name = entry.name;
  const characters = utf8 ? utf8Length(name) : undefined;
  let len = characters ?? name.length;
  let shown: Buffer;
  if (characters !== undefined && characters !== name.length) {
    // ngx_utf8_cpystrn(): at most 47 (or 50) characters, stopping at a byte that is not UTF-8.
    shown = escapeHtml(utf8Prefix(name, len > NAME_LEN ? NAME_LEN - 3 : NAME_LEN));
  } else {
    shown = escapeHtml(name.subarray(0, len > NAME_LEN ? NAME_LEN - 3 : NAME_LEN));
  }
  if (len > NAME_LEN) return Buffer.concat([shown, ascii("..&gt;</a>")]);
  let tail = "";
  if (entry.dir && NAME_LEN - len > 0) {
    tail = "/";
    len++;
  }
  return Buffer.concat([shown, ascii(tail + "</a>" + " ".repeat(Math.max(0, NAME_LEN - len)))]);
}

/** exact: "%19O" (a directory "-" in that column); else a scaled size "%6i%c" or " %6i". */
function sizeColumn(entry: ListingEntry, exact: boolean): string {
  if (exact) return entry.dir ? " ".repeat(18) + "-" : String(entry.size).padStart(19);
  if (entry.dir) return "      -";
  const length = entry.size;
  const scaled = (unit: number, letter: string): string => {
    let size = Math.floor(length / unit);
    if (length % unit > unit / 2 - 1) size++;
    return String(size).padStart(6) + letter;
  };
  if (length > 1024 * 1024 * 1024 - 1) return scaled(1024 * 1024 * 1024, "G");
  if (length > 1024 * 1024 - 1) return scaled(1024 * 1024, "M");
  if (length > 9999) return scaled(1024, "K");
  return " " + String(length).padStart(6);
}

/** json, or jsonp when a callback name is given. */
export function jsonListing(entries: readonly ListingEntry[], callback: string | undefined): Buffer {
  const parts: Buffer[] = [];
  if (callback !== undefined) parts.push(Buffer.from(`/* callback */\r\n${callback}(`, "latin1"));
  parts.push(ascii("["));
  entries.forEach((entry, i) => {
    parts.push(ascii('\r\n{ "name":"'), escapeJson(entry.name));
    const type = entry.dir ? "directory" : entry.file ? "file" : "other";
    const size = entry.file ? `", "size":${entry.size}` : '"';
    parts.push(ascii(`", "type":"${type}", "mtime":"${formatHttpDate(entry.mtime * 1000)}${size} }`));
    if (i < entries.length - 1) parts.push(ascii(","));
  });
  parts.push(ascii("\r\n]"));
  if (callback !== undefined) parts.push(ascii(");"));
  return Buffer.concat(parts);
}

export function xmlListing(entries: readonly ListingEntry[]): Buffer {
  const parts: Buffer[] = [ascii('<?xml version="1.0"?>\r\n<list>\r\n')];
  for (const entry of entries) {
    const type = entry.dir ? "directory" : entry.file ? "file" : "other";
    const date = new Date(entry.mtime * 1000);
    const mtime =
      `${String(date.getUTCFullYear()).padStart(4)}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}` +
      `T${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}Z`;
    const size = entry.file ? ` size="${entry.size}"` : "";
    parts.push(ascii(`<${type} mtime="${mtime}"${size}>`), escapeHtml(entry.name), ascii(`</${type}>\r\n`));
  }
  parts.push(ascii("</list>\r\n"));
  return Buffer.concat(parts);
}

/** ngx_http_autoindex_jsonp_callback(): up to 128 of letters, digits, "_" and "."; else the info line nginx logs. */
export function checkCallback(callback: string): string | undefined {
  if (callback.length > 128) return `client sent too long callback name: "${callback}"`;
  if (!/^[A-Za-z0-9_.]*$/.test(callback)) return `client sent invalid callback name: "${callback}"`;
  return undefined;
}

function ascii(text: string): Buffer {
  return Buffer.from(text, "latin1");
}

function pad2(n: number): string {
  return n < 10 ? "0" + String(n) : String(n);
}

const HTML_ENTITIES: Record<number, string> = { 0x3c: "&lt;", 0x3e: "&gt;", 0x26: "&amp;", 0x22: "&quot;" };

/** ngx_escape_html(): < > & " as entities. */
export function escapeHtml(bytes: Buffer): Buffer {
  if (!bytes.some((b) => HTML_ENTITIES[b] !== undefined)) return bytes;
  const parts: Buffer[] = [];
  let from = 0;
  bytes.forEach((b, i) => {
    const entity = HTML_ENTITIES[b];
    if (entity === undefined) return;
    parts.push(bytes.subarray(from, i), ascii(entity));
    from = i + 1;
  });
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}

/** ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT): all but letters, digits, "-", ".", "_" and "~" as %XX. */
export function escapeUriComponent(bytes: Buffer): Buffer {
  let out = "";
  for (const b of bytes) {
    const keep =
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d ||
      b === 0x2e ||
      b === 0x5f ||
      b === 0x7e;
    out += keep ? String.fromCharCode(b) : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return ascii(out);
}

const JSON_SHORT: Record<number, string> = { 0x0a: "n", 0x0d: "r", 0x09: "t", 0x08: "b", 0x0c: "f" };

/** ngx_escape_json(): \ and " with a backslash, controls as \n \r \t \b \f or \u00XX. */
export function escapeJson(bytes: Buffer): Buffer {
  if (!bytes.some((b) => b <= 0x1f || b === 0x22 || b === 0x5c)) return bytes;
  const out: number[] = [];
  for (const b of bytes) {
    if (b > 0x1f) {
      if (b === 0x22 || b === 0x5c) out.push(0x5c);
      out.push(b);
      continue;
    }
    const short = JSON_SHORT[b];
    const text = short !== undefined ? "\\" + short : "\\u00" + b.toString(16).toUpperCase().padStart(2, "0");
    for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
  }
  return Buffer.from(out);
}

/** The length of one UTF-8 sequence at `i`, or 0 when the bytes there are not UTF-8 (ngx_utf8_decode). */
function utf8Sequence(bytes: Buffer, i: number): number {
  const c = bytes[i]!;
  if (c < 0x80) return 1;
  let len: number;
  let value: number;
  if (c >= 0xf0) {
    len = 4;
    value = c & 0x07;
  } else if (c >= 0xe0) {
    len = 3;
    value = c & 0x0f;
  } else if (c >= 0xc2) {
    len = 2;
    value = c & 0x1f;
  } else return 0;
  if (i + len > bytes.length) return 0;
  for (let k = 1; k < len; k++) {
    const next = bytes[i + k]!;
    // nginx checks only that a continuation byte has its high bit.
    if (next < 0x80) return 0;
    value = (value << 6) | (next & 0x3f);
  }
  const minimum = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x10000;
  return value < minimum || value > 0x10ffff ? 0 : len;
}

/** ngx_utf8_length(): characters, or the byte length when the name is not UTF-8. */
function utf8Length(bytes: Buffer): number {
  let count = 0;
  for (let i = 0; i < bytes.length; count++) {
    const len = utf8Sequence(bytes, i);
    if (len === 0) return bytes.length;
    i += len;
  }
  return count;
}

/** The first `characters` characters (stopping at a NUL or a byte that is not UTF-8). */
function utf8Prefix(bytes: Buffer, characters: number): Buffer {
  let i = 0;
  for (let n = 0; n < characters && i < bytes.length; n++) {
    if (bytes[i] === 0) break;
    const len = utf8Sequence(bytes, i);
    if (len === 0) break;
    i += len;
  }
  return bytes.subarray(0, i);
}
