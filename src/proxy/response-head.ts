/**
 * Parsing an upstream's response head (ngx_http_proxy_process_status_line
 * and ngx_http_proxy_process_header). Upstreams are trusted more than
 * clients: like nginx, a bare LF ends a line here.
 */

export interface ResponseHead {
  readonly status: number;
  /** "200 OK" as the upstream wrote it; nginx passes the reason phrase on. */
  readonly statusText: string;
  /** 1000 for HTTP/1.0, 1001 for HTTP/1.1. */
  readonly version: number;
  readonly headers: Array<[string, string]>;
  readonly length: number;
}

export type ResponseParse =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: ResponseHead }
  | { readonly kind: "error"; readonly reason: string };

const STATUS_LINE = /^HTTP\/(\d)\.(\d+) +(\d{3})(?: (.*))?$/;

/** `limit` is proxy_buffer_size: a head that does not fit is "too big". */
export function parseResponseHead(buf: Buffer, limit: number): ResponseParse {
  const end = headEnd(buf);
  if (end === -1) {
    if (buf.length > limit) return { kind: "error", reason: "upstream sent too big header" };
    return { kind: "incomplete" };
  }
  if (end > limit) return { kind: "error", reason: "upstream sent too big header" };
  const lines = buf.toString("latin1", 0, end).split(/\r?\n/);
  const statusMatch = STATUS_LINE.exec(lines[0] ?? "");
  if (!statusMatch) return { kind: "error", reason: "upstream sent no valid HTTP/1.0 header" };
  const status = Number(statusMatch[3]);
  if (status < 100) return { kind: "error", reason: "upstream sent no valid HTTP/1.0 header" };
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const bad = invalidByteAt(line);
    if (bad !== -1) {
      const hex = line.charCodeAt(bad).toString(16).padStart(2, "0");
      return { kind: "error", reason: `upstream sent invalid header: "${line.slice(0, bad)}\\x${hex}..."` };
    }
    // As in nginx's parser, a line without ":" is a header with an empty value.
    const colon = line.indexOf(":");
    headers.push(colon === -1 ? [line, ""] : [line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  const statusText =
    statusMatch[4] !== undefined && statusMatch[4] !== "" ? `${status} ${statusMatch[4]}` : String(status);
  return {
    kind: "head",
    head: {
      status,
      statusText,
      version: Number(statusMatch[1]) * 1000 + Number(statusMatch[2]),
      headers,
      length: endLength(buf, end),
    },
  };
}

/** Where a header line breaks nginx's grammar: a space or control byte in the name, a leading ":", a NUL; else -1. */
function invalidByteAt(line: string): number {
  if (line[0] === ":") return 0;
  const colon = line.indexOf(":");
  const nameEnd = colon === -1 ? line.length : colon;
  for (let i = 0; i < nameEnd; i++) {
    const code = line.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return i;
  }
  return line.indexOf("\0", nameEnd);
}

/** Index where the blank line starts (CRLFCRLF, or LF LF), or -1. */
function headEnd(buf: Buffer): number {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  if (crlf === -1) return lf;
  if (lf === -1) return crlf;
  return Math.min(crlf, lf);
}

function endLength(buf: Buffer, end: number): number {
  return buf[end] === 13 ? end + 4 : end + 2;
}
