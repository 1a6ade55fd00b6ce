/**
 * Byte ranges, as ngx_http_range_filter_module: `Range: bytes=…` on a 200
 * becomes a 206 with one Content-Range, or a multipart/byteranges body for
 * several ranges; a set nothing of which fits the file is a 416; a set that
 * adds up to more than the file, or more ranges than max_ranges, is ignored
 * (the whole file is sent). If-Range must match the ETag or Last-Modified.
 */

import { parseHttpTime } from "./conditional.js";

export interface ByteRange {
  /** First byte. */
  readonly start: number;
  /** One past the last byte. */
  readonly end: number;
}

export type RangeOutcome =
  | { readonly kind: "disabled" }
  | { readonly kind: "none" }
  | { readonly kind: "unsatisfiable" }
  | { readonly kind: "ranges"; readonly ranges: readonly ByteRange[] };

/** nginx's off_t limit: a number past it makes the set unsatisfiable. */
const MAX_OFF_T = 2n ** 63n - 1n;

export function selectRanges(
  rangeHeader: string | undefined,
  ifRange: string | undefined,
  size: number,
  validators: { readonly etag: string | undefined; readonly mtime: number },
  maxRanges: number,
): RangeOutcome {
  // max_ranges 0: no ranges, and no Accept-Ranges either.
  if (maxRanges === 0) return { kind: "disabled" };
  if (rangeHeader === undefined || rangeHeader.length < 7 || rangeHeader.slice(0, 6).toLowerCase() !== "bytes=") {
    return { kind: "none" };
  }
  if (ifRange !== undefined) {
    if (ifRange.length >= 2 && ifRange.endsWith('"')) {
      if (validators.etag === undefined || validators.etag !== ifRange) return { kind: "none" };
    } else if (parseHttpTime(ifRange) !== validators.mtime) return { kind: "none" };
  }
  return parseRanges(rangeHeader.slice(6), size, maxRanges);
}

/** ngx_http_range_parse() over the text after "bytes=". */
export function parseRanges(text: string, size: number, maxRanges: number): RangeOutcome {
  const ranges: ByteRange[] = [];
  const length = BigInt(size);
  let total = 0n;
  let left = maxRanges;
  let p = 0;
  const at = (i: number): string => text[i] ?? "\0";
  const isDigit = (i: number): boolean => at(i) >= "0" && at(i) <= "9";
  const readNumber = (): bigint | undefined => {
    let n = 0n;
    while (isDigit(p)) {
      n = n * 10n + BigInt(at(p++).charCodeAt(0) - 48);
      if (n > MAX_OFF_T) return undefined;
    }
    return n;
  };
  const skipSpaces = (): void => {
    while (at(p) === " ") p++;
  };
  for (;;) {
    let start = 0n;
    let end = 0n;
    let suffix = false;
    let open = false;
    skipSpaces();
    if (at(p) !== "-") {
      if (!isDigit(p)) return { kind: "unsatisfiable" };
      const n = readNumber();
      if (n === undefined) return { kind: "unsatisfiable" };
      start = n;
      skipSpaces();
      if (at(p++) !== "-") return { kind: "unsatisfiable" };
      skipSpaces();
      if (at(p) === "," || at(p) === "\0") {
        end = length;
        open = true;
      }
    } else {
      suffix = true;
      p++;
    }
    if (!open) {
      if (!isDigit(p)) return { kind: "unsatisfiable" };
      const n = readNumber();
      if (n === undefined) return { kind: "unsatisfiable" };
      end = n;
      skipSpaces();
      if (at(p) !== "," && at(p) !== "\0") return { kind: "unsatisfiable" };
      if (suffix) {
        start = end < length ? length - end : 0n;
        end = length - 1n;
      }
      end = end >= length ? length : end + 1n;
    }
    if (start < end) {
      ranges.push({ start: Number(start), end: Number(end) });
      total += end - start;
      if (left-- === 0) return { kind: "none" };
    } else if (start === 0n) {
      return { kind: "none" };
    }
    if (at(p++) !== ",") break;
  }
  if (ranges.length === 0) return { kind: "unsatisfiable" };
  if (total > length) return { kind: "none" };
  return { kind: "ranges", ranges };
}

let boundaryCounter = 0;

/** The parts of a multipart/byteranges body, around the file's bytes (ngx_http_range_multipart_header). */
export interface Multipart {
  readonly contentType: string;
  /** For each range: the text before its bytes. */
  readonly heads: readonly string[];
  readonly tail: string;
  readonly length: number;
}

export function multipart(ranges: readonly ByteRange[], size: number, contentType: string): Multipart {
  // nginx's boundary is its temp-file counter, printed on 20 digits.
  const boundary = String(++boundaryCounter).padStart(20, "0");
  const typeLine = contentType !== "" ? `\r\nContent-Type: ${contentType}` : "";
  const heads = ranges.map(
    (range) => `\r\n--${boundary}${typeLine}\r\nContent-Range: bytes ${range.start}-${range.end - 1}/${size}\r\n\r\n`,
  );
  const tail = `\r\n--${boundary}--\r\n`;
  let length = tail.length;
  ranges.forEach((range, i) => (length += heads[i]!.length + range.end - range.start));
  return { contentType: `multipart/byteranges; boundary=${boundary}`, heads, tail, length };
}
