/**
 * ngx_parse_http_time(): the three date formats of HTTP (RFC 1123, RFC 850,
 * asctime) and nothing else; read by the not-modified and range filters and
 * by gzip_proxied's `expired`.
 */

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** ngx_parse_http_time(): seconds since the epoch, or -1 for anything else. */
export function parseHttpTime(value: string): number {
  const end = value.length;
  const code = (i: number): number => (i < end ? value.charCodeAt(i) : 0);
  const digit = (i: number): number => {
    const c = code(i);
    return c >= 48 && c <= 57 ? c - 48 : -1;
  };
  const two = (i: number): number => (digit(i) < 0 || digit(i + 1) < 0 ? -1 : digit(i) * 10 + digit(i + 1));
  let fmt: "none" | "rfc822" | "rfc850" | "isoc" = "none";
  let p = 0;
  for (; p < end; p++) {
    if (value[p] === ",") break;
    if (value[p] === " ") {
      fmt = "isoc";
      break;
    }
  }
  for (p++; p < end; p++) if (value[p] !== " ") break;
  if (end - p < 18) return -1;
  let day = 32;
  let year = 2038;
  if (fmt !== "isoc") {
    day = two(p);
    if (day < 0) return -1;
    p += 2;
    if (value[p] === " ") {
      if (end - p < 18) return -1;
      fmt = "rfc822";
    } else if (value[p] === "-") fmt = "rfc850";
    else return -1;
    p++;
  }
  let month: number;
  switch (value[p]) {
    case "J":
      month = value[p + 1] === "a" ? 0 : value[p + 2] === "n" ? 5 : 6;
      break;
    case "F":
      month = 1;
      break;
    case "M":
      month = value[p + 2] === "r" ? 2 : 4;
      break;
    case "A":
      month = value[p + 1] === "p" ? 3 : 7;
      break;
    case "S":
      month = 8;
      break;
    case "O":
      month = 9;
      break;
    case "N":
      month = 10;
      break;
    case "D":
      month = 11;
      break;
    default:
      return -1;
  }
  p += 3;
  if ((fmt === "rfc822" && value[p] !== " ") || (fmt === "rfc850" && value[p] !== "-")) return -1;
  p++;
  if (fmt === "rfc822") {
    const high = two(p);
    const low = two(p + 2);
    if (high < 0 || low < 0) return -1;
    year = high * 100 + low;
    p += 4;
  } else if (fmt === "rfc850") {
    year = two(p);
    if (year < 0) return -1;
    year += year < 70 ? 2000 : 1900;
    p += 2;
  }
  if (fmt === "isoc") {
    if (value[p] === " ") p++;
    if (digit(p) < 0) return -1;
    day = digit(p++);
    if (value[p] !== " ") {
      if (digit(p) < 0) return -1;
      day = day * 10 + digit(p++);
    }
    if (end - p < 14) return -1;
  }
  if (value[p++] !== " ") return -1;
  const hour = two(p);
  if (hour < 0) return -1;
  p += 2;
  if (value[p++] !== ":") return -1;
  const min = two(p);
  if (min < 0) return -1;
  p += 2;
  if (value[p++] !== ":") return -1;
  const sec = two(p);
  if (sec < 0) return -1;
  if (fmt === "isoc") {
    p += 2;
    if (value[p++] !== " ") return -1;
    const high = two(p);
    const low = two(p + 2);
    if (high < 0 || low < 0) return -1;
    year = high * 100 + low;
  }
  if (hour > 23 || min > 59 || sec > 59) return -1;
  if (day === 29 && month === 1) {
    if (year & 3 || (year % 100 === 0 && year % 400 !== 0)) return -1;
  } else if (day > MONTH_DAYS[month]!) return -1;
  // Gauss' formula, with the year starting on March 1 and months counted from 1.
  month -= 1;
  if (month <= 0) {
    month += 12;
    year -= 1;
  }
  const days =
    365 * year +
    Math.floor(year / 4) -
    Math.floor(year / 100) +
    Math.floor(year / 400) +
    Math.floor((367 * month) / 12) -
    30 +
    day -
    1 -
    719527 +
    31 +
    28;
  return days * 86400 + hour * 3600 + min * 60 + sec;
}
