/**
 * Parsing an upstream's response head (ngx_http_proxy_process_status_line
 * and ngx_http_proxy_process_header). Upstreams are trusted more than
 * clients: like nginx, a bare LF ends a line here — but a bare CR inside a
 * line, a NUL, or a space in a name is an invalid header (502), read byte by
 * byte as ngx_http_parse_header_line() reads it, so that no client that splits
 * lines on CR is sent a header the upstream smuggled. The headers that frame the
 * body are held to nginx 1.23+'s rules (Debian's 1.22 lets them through): one
 * Content-Length of digits, or one Transfer-Encoding that is "chunked", never
 * both — otherwise the response is an invalid header (502), so that no client
 * is sent a head whose length two readers would read differently.
 * A single-valued header repeated (Location, ETag, Expires …) keeps its first
 * line: nginx 1.23+ ignores the others with a warning (Debian's 1.22 passes
 * them all).
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
  /** nginx's warnings for the repeated single-valued lines left out of `headers`. */
  readonly duplicates: readonly string[];
}

export type ResponseParse =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: ResponseHead }
  | { readonly kind: "error"; readonly reason: string; readonly duplicates?: readonly string[] };

const STATUS_LINE = /^HTTP\/(\d)\.(\d+) +(\d{3})(?: (.*))?$/;

/** `limit` is proxy_buffer_size: a head that does not fit is "too big". */
export function parseResponseHead(buf: Buffer, limit: number): ResponseParse {
  const statusEnd = buf.indexOf(LF);
  if (statusEnd === -1) return buf.length > limit ? TOO_BIG : INCOMPLETE;
  const statusMatch = STATUS_LINE.exec(
    buf.toString("latin1", 0, buf[statusEnd - 1] === CR ? statusEnd - 1 : statusEnd),
  );
  const status = statusMatch ? Number(statusMatch[3]) : 0;
  const scan = scanHeaderLines(buf, statusEnd + 1);
  // nginx reads the head into a buffer of proxy_buffer_size: nothing past it is looked at.
  if (scan.kind === "incomplete" || scan.at >= limit) {
    if (buf.length <= limit) return INCOMPLETE;
    if (!statusMatch) return TOO_BIG;
    // The buffer is full: nginx has handled the lines within it, and may have refused one of them first.
    const within = scanHeaderLines(buf.subarray(0, limit), statusEnd + 1);
    const checked = checkHeaders(within.kind === "incomplete" ? within.headers : []);
    return checked.kind === "error"
      ? checked
      : { kind: "error", reason: TOO_BIG.reason, duplicates: checked.duplicates };
  }
  if (!statusMatch || status < 100) return { kind: "error", reason: "upstream sent no valid HTTP/1.0 header" };
  const checked = checkHeaders(scan.headers);
  if (checked.kind === "error") return checked;
  const { framing, headers, duplicates } = checked;
  if (scan.kind === "invalid")
    return { kind: "error", reason: `upstream sent invalid header: "${scan.text}..."`, duplicates };
  const statusText =
    statusMatch[4] !== undefined && statusMatch[4] !== "" ? `${status} ${statusMatch[4]}` : String(status);
  return {
    kind: "head",
    head: {
      status,
      statusText,
      version: Number(statusMatch[1]) * 1000 + Number(statusMatch[2]),
      headers,
      length: scan.length,
      contentLength: framing.contentLength,
      chunked: framing.chunked,
      duplicates,
    },
  };
}

/**
 * The header lines as nginx's handlers take them, one by one: the first
 * refusal in header order is the one reported, with the warnings before it.
 */
function checkHeaders(
  lines: ReadonlyArray<[string, string]>,
):
  | { kind: "error"; reason: string; duplicates: readonly string[] }
  | { kind: "ok"; framing: FramingHeaders; headers: Array<[string, string]>; duplicates: readonly string[] } {
  const framing = new FramingHeaders();
  const single = new SingleValued();
  const headers: Array<[string, string]> = [];
  for (const header of lines) {
    const refused = framing.check(header);
    if (refused) return { kind: "error", reason: refused, duplicates: single.duplicates };
    if (single.first(header)) headers.push(header);
  }
  return { kind: "ok", framing, headers, duplicates: single.duplicates };
}

const INCOMPLETE: ResponseParse = { kind: "incomplete" };
const TOO_BIG = { kind: "error", reason: "upstream sent too big header" } as const;

const CR = 0x0d;
const LF = 0x0a;

type HeaderScan =
  /** The lines before the end of the bytes (the head goes on past them). */
  | { readonly kind: "incomplete"; readonly headers: Array<[string, string]> }
  /** `text` as nginx logs it: the line up to where it stopped, then the byte there in hex. */
  | {
      readonly kind: "invalid";
      readonly at: number;
      readonly text: string;
      /** The lines before it. */
      readonly headers: Array<[string, string]>;
    }
  | {
      readonly kind: "done";
      /** The last byte of the head. */
      readonly at: number;
      readonly headers: Array<[string, string]>;
      /** The head's length, blank line included. */
      readonly length: number;
    };

/** ngx_http_parse_header_line()'s states (an upstream's: underscores allowed). */
const enum S {
  Start,
  Name,
  SpaceBeforeValue,
  Value,
  SpaceAfterValue,
  IgnoreLine,
  AlmostDone,
  HeaderAlmostDone,
}

/**
 * The header lines of a head from `from`, byte by byte as
 * ngx_http_parse_header_line() reads them: a line ends with LF, optionally
 * after CRs; a CR followed by anything else, a NUL, or a space or control
 * byte in a name is an invalid header (a bare CR must not reach a client that
 * splits lines on it). A line "HTTP/..." (IIS repeats its status line) is
 * skipped, as nginx skips it.
 */
function scanHeaderLines(buf: Buffer, from: number): HeaderScan {
  const headers: Array<[string, string]> = [];
  let state = S.Start;
  let lineStart = from;
  let nameEnd = 0;
  let valueStart = 0;
  let valueEnd = 0;
  const invalid = (at: number, end: number): HeaderScan => ({
    kind: "invalid",
    at,
    headers,
    text: buf.toString("latin1", lineStart, end) + "\\x" + buf[end]!.toString(16).padStart(2, "0"),
  });
  const header = (): void => {
    headers.push([buf.toString("latin1", lineStart, nameEnd), buf.toString("latin1", valueStart, valueEnd)]);
    state = S.Start;
  };
  for (let p = from; p < buf.length; p++) {
    const ch = buf[p]!;
    switch (state) {
      case S.Start:
        lineStart = p;
        if (ch === CR) {
          valueEnd = p;
          state = S.HeaderAlmostDone;
        } else if (ch === LF) return { kind: "done", at: p, headers, length: p + 1 };
        else if (ch <= 0x20 || ch === 0x7f || ch === 0x3a) return invalid(p, p);
        else state = S.Name;
        break;
      case S.Name:
        if (ch === 0x3a) {
          nameEnd = p;
          state = S.SpaceBeforeValue;
        } else if (ch === CR || ch === LF) {
          nameEnd = valueStart = valueEnd = p;
          if (ch === LF) header();
          else state = S.AlmostDone;
        } else if (ch === 0x2f && p - lineStart === 4 && buf.toString("latin1", lineStart, p) === "HTTP") {
          state = S.IgnoreLine;
        } else if (ch <= 0x20 || ch === 0x7f) return invalid(p, p);
        break;
      case S.SpaceBeforeValue:
        if (ch === 0x20 || ch === 0x09) break;
        valueStart = valueEnd = p;
        if (ch === LF) header();
        else if (ch === CR) state = S.AlmostDone;
        else if (ch === 0) return invalid(p, p);
        else state = S.Value;
        break;
      case S.Value:
        if (ch === 0x20 || ch === 0x09) {
          valueEnd = p;
          state = S.SpaceAfterValue;
        } else if (ch === CR) {
          valueEnd = p;
          state = S.AlmostDone;
        } else if (ch === LF) {
          valueEnd = p;
          header();
        } else if (ch === 0) return invalid(p, p);
        break;
      case S.SpaceAfterValue:
        if (ch === 0x20 || ch === 0x09) break;
        if (ch === CR) state = S.AlmostDone;
        else if (ch === LF) header();
        else if (ch === 0) return invalid(p, p);
        else state = S.Value;
        break;
      case S.IgnoreLine:
        if (ch === LF) state = S.Start;
        break;
      case S.AlmostDone:
        // nginx names the line up to where its value ended (the CR, or the spaces before it).
        if (ch === LF) header();
        else if (ch !== CR) return invalid(p, valueEnd);
        break;
      case S.HeaderAlmostDone:
        if (ch === LF) return { kind: "done", at: p, headers, length: p + 1 };
        return invalid(p, valueEnd);
    }
  }
  return { kind: "incomplete", headers };
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

/**
 * The headers ngx_http_upstream_headers_in[] reads with a duplicate check
 * (ngx_http_upstream_process_header_line() and the handlers of Last-Modified,
 * Expires, X-Accel-Expires, X-Accel-Limit-Rate): a line after the first is
 * marked ignored (h->hash = 0) and never reaches the client or $upstream_http_.
 */
const SINGLE_VALUED: ReadonlySet<string> = new Set([
  "status",
  "content-type",
  "date",
  "last-modified",
  "etag",
  "server",
  "location",
  "refresh",
  "expires",
  "x-accel-expires",
  "x-accel-redirect",
  "x-accel-limit-rate",
]);

class SingleValued {
  private readonly seen = new Map<string, [string, string]>();
  readonly duplicates: string[] = [];

  /** Whether `header` is kept: not a repeat of a single-valued one. */
  first(header: [string, string]): boolean {
    const lower = header[0].toLowerCase();
    if (!SINGLE_VALUED.has(lower)) return true;
    const previous = this.seen.get(lower);
    if (!previous) {
      this.seen.set(lower, header);
      return true;
    }
    this.duplicates.push(
      `upstream sent duplicate header line: "${line(header)}", previous value: "${line(previous)}", ignored`,
    );
    return false;
  }
}

function line([name, value]: [string, string]): string {
  return `${name}: ${value}`;
}
