/**
 * Parsing an upstream's response head (ngx_http_proxy_process_status_line
 * and ngx_http_proxy_process_header). Upstreams are trusted more than
 * clients: like nginx, a bare LF ends a line here. The headers that frame the
 * body are held to nginx 1.23+'s rules (Debian's 1.22 lets them through): one
 * Content-Length of digits, or one Transfer-Encoding that is "chunked", never
 * both — otherwise the response is an invalid header (502), so that no client
 * is sent a head whose length two readers would read differently.
 */

export interface ResponseHead {
  readonly status: number;
  /** "200 OK" as the upstream wrote it; nginx passes the reason phrase on. */
  readonly statusText: string;
  /** 1000 for HTTP/1.0, 1001 for HTTP/1.1. */
  readonly version: number;
  readonly headers: Array<[string, string]>;
  readonly length: number;
  /** The one Content-Length, checked (none: undefined). */
  readonly contentLength: number | undefined;
  /** The one Transfer-Encoding was "chunked". */
  readonly chunked: boolean;
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
  const framing = new FramingHeaders();
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
    const header: [string, string] = colon === -1 ? [line, ""] : [line.slice(0, colon), line.slice(colon + 1).trim()];
    const refused = framing.check(header);
    if (refused) return { kind: "error", reason: refused };
    headers.push(header);
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
      contentLength: framing.contentLength,
      chunked: framing.chunked,
    },
  };
}

/** The largest Content-Length ngx_atoof() takes (NGX_MAX_OFF_T_VALUE). */
const MAX_LENGTH = 2n ** 63n - 1n;

/**
 * ngx_http_upstream_process_content_length() and _transfer_encoding() of nginx
 * 1.23+: each header line in turn; the first refusal, in nginx's words.
 */
class FramingHeaders {
  private length: [string, string] | undefined;
  private coding: [string, string] | undefined;

  get contentLength(): number | undefined {
    return this.length ? Number(this.length[1]) : undefined;
  }

  get chunked(): boolean {
    return this.coding !== undefined;
  }

  check(header: [string, string]): string | undefined {
    const lower = header[0].toLowerCase();
    if (lower !== "content-length" && lower !== "transfer-encoding") return undefined;
    const own = lower === "content-length" ? this.length : this.coding;
    if (own) return `upstream sent duplicate header line: "${line(header)}", previous value: "${line(own)}"`;
    if ((lower === "content-length" ? this.coding : this.length) !== undefined)
      return `upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time`;
    if (lower === "content-length") {
      this.length = header;
      if (!/^\d+$/.test(header[1]) || BigInt(header[1]) > MAX_LENGTH)
        return `upstream sent invalid "Content-Length" header: "${line(header)}"`;
      return undefined;
    }
    this.coding = header;
    if (header[1].toLowerCase() !== "chunked") return `upstream sent unknown "Transfer-Encoding": "${header[1]}"`;
    return undefined;
  }
}

function line([name, value]: [string, string]): string {
  return `${name}: ${value}`;
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
