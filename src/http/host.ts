/**
 * A request's host, as nginx reads and checks it: the authority of an
 * absolute-form target (ngx_http_parse_request_line's sw_schema … sw_port
 * states) and ngx_http_validate_host(), which both the request line's host and
 * the Host header go through.
 */

/** An absolute-form target's authority ("host[:port]", as sent) and where its path begins. */
export interface Authority {
  readonly host: string;
  readonly pathStart: number;
}

const isAlpha = (c: number): boolean => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
/** Bytes of a bracketed IP literal in nginx's grammar: unreserved, sub-delims and ':'. */
const IP_LITERAL = new Set([..."-._~!$&'()*+,;=:"].map((ch) => ch.charCodeAt(0)));

/**
 * The authority of an absolute-form target: scheme ":" "//" host [":" digits],
 * then "/", "?" or the end. A host is letters, digits, "." and "-", or a bracketed
 * literal. Any other byte (userinfo's "@", ",", "#", "_", "%", a second ":") makes
 * the request invalid, as nginx's parser does. Undefined when invalid.
 */
export function parseAuthority(target: string): Authority | undefined {
  if (!isAlpha(target.charCodeAt(0))) return undefined;
  let i = 1;
  for (; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (!isAlpha(c) && !isDigit(c) && c !== 0x2b && c !== 0x2d && c !== 0x2e) break; // + - .
  }
  if (!target.startsWith("://", i)) return undefined;
  const hostStart = (i += 3);
  if (target[i] === "[") {
    for (i++; i < target.length && target[i] !== "]"; i++) {
      const c = target.charCodeAt(i);
      if (!isAlpha(c) && !isDigit(c) && !IP_LITERAL.has(c)) return undefined;
    }
    if (i === target.length) return undefined;
    i++;
  } else {
    for (; i < target.length; i++) {
      const c = target.charCodeAt(i);
      if (!isAlpha(c) && !isDigit(c) && c !== 0x2e && c !== 0x2d) break;
    }
  }
  if (target[i] === ":") for (i++; i < target.length && isDigit(target.charCodeAt(i)); i++);
  if (i < target.length && target[i] !== "/" && target[i] !== "?") return undefined;
  return { host: target.slice(hostStart, i), pathStart: i };
}

/**
 * ngx_http_validate_host(): the name without its port and a trailing dot,
 * lower-cased (ASCII only); undefined when nginx refuses it: "..", "/", a
 * control byte, a space or DEL, or nothing left (and "\", see below). A
 * bracketed literal ends at its "]" (an unterminated one is taken whole, as
 * nginx takes it); other bytes ("@", bytes past 0x7f) pass, as in nginx.
 */
export function validateHost(raw: string): string | undefined {
  let dot = -2;
  let length = raw.length;
  let state: "usual" | "literal" | "rest" = "usual";
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2e) {
      if (dot === i - 1) return undefined;
      dot = i;
    } else if (c === 0x3a) {
      if (state === "usual") {
        length = i;
        state = "rest";
      }
    } else if (c === 0x5b) {
      if (i === 0) state = "literal";
    } else if (c === 0x5d) {
      if (state === "literal") {
        length = i + 1;
        state = "rest";
      }
    } else if (c === 0x2f || c <= 0x20 || c === 0x7f) {
      // "/" is ngx_path_separator() on Unix; a "\\" passes, as in nginx on Linux (Windows builds refuse it).
      return undefined;
    }
  }
  if (dot === length - 1) length--;
  if (length <= 0) return undefined;
  return asciiLower(raw.slice(0, length));
}

/** ngx_strlow(): A-Z only; other bytes are left as they are. */
function asciiLower(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase()) : text;
}
