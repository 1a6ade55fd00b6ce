/**
 * The argument of `expires` (ngx_http_parse_expires): `epoch`, `max`, `off`,
 * `@time` (a time of day), or a time with an optional sign, read by
 * ngx_parse_time() in seconds. The same reading serves the configuration
 * (a literal argument, refused with nginx's message) and the request (an
 * argument with variables, whose bad value just sets nothing).
 */

/** What `expires` says: nginx's NGX_HTTP_EXPIRES_* (access: from now; modified: from Last-Modified). */
export type ExpiresKind = "off" | "epoch" | "max" | "access" | "modified" | "daily";

export interface ExpiresValue {
  readonly kind: ExpiresKind;
  /** Seconds: an offset (negative allowed), or for `daily` the time of day. */
  readonly seconds: number;
}

/** The value, or nginx's message for a bad one. `kind` is what the directive's form set (access or modified). */
export function parseExpires(text: string, kind: "access" | "modified"): ExpiresValue | string {
  if (kind !== "modified") {
    if (text === "epoch") return { kind: "epoch", seconds: 0 };
    if (text === "max") return { kind: "max", seconds: 0 };
    if (text === "off") return { kind: "off", seconds: 0 };
  }
  let result: ExpiresKind = kind;
  let rest = text;
  let minus = false;
  if (rest.startsWith("@")) {
    if (kind === "modified") return 'daily time cannot be used with "modified" parameter';
    result = "daily";
    rest = rest.slice(1);
  } else if (rest.startsWith("+")) rest = rest.slice(1);
  else if (rest.startsWith("-")) {
    minus = true;
    rest = rest.slice(1);
  }
  const seconds = parseTimeSeconds(rest);
  if (seconds === undefined) return "invalid value";
  if (result === "daily" && seconds > 24 * 60 * 60) return "daily time value must be less than 24 hours";
  return { kind: result, seconds: minus ? -seconds : seconds };
}

const MAX_INT32 = 2147483647;

/** Units in ngx_parse_time()'s order, with their scale in seconds. */
const UNITS: Readonly<Record<string, { readonly step: number; readonly scale: number }>> = {
  y: { step: 1, scale: 365 * 24 * 3600 },
  M: { step: 2, scale: 30 * 24 * 3600 },
  w: { step: 3, scale: 7 * 24 * 3600 },
  d: { step: 4, scale: 24 * 3600 },
  h: { step: 5, scale: 3600 },
  m: { step: 6, scale: 60 },
  s: { step: 7, scale: 1 },
};

/**
 * ngx_parse_time(value, is_sec = 1): "1y2M3w4d5h6m7s" with each unit at most
 * once and in that order, a bare number as seconds, spaces between parts;
 * "ms" is refused in seconds. undefined where nginx returns NGX_ERROR.
 */
export function parseTimeSeconds(text: string): number | undefined {
  let valid = false;
  let value = 0;
  let total = 0;
  let step = 0;
  let p = 0;
  while (p < text.length) {
    const ch = text[p]!;
    if (ch >= "0" && ch <= "9") {
      value = value * 10 + (ch.charCodeAt(0) - 48);
      valid = true;
      p++;
      continue;
    }
    p++;
    let unit: { readonly step: number; readonly scale: number };
    if (ch === "m" && text[p] === "s") return undefined;
    if (ch === " ") {
      if (step >= 7) return undefined;
      unit = { step: 9, scale: 1 };
    } else {
      const known = UNITS[ch];
      if (known === undefined) return undefined;
      // "y" may only come first; every other unit must follow a larger one.
      if (ch === "y" ? step > 0 : step >= known.step) return undefined;
      unit = known;
    }
    step = unit.step;
    if (value > Math.floor(MAX_INT32 / unit.scale)) return undefined;
    total += value * unit.scale;
    if (total > MAX_INT32) return undefined;
    value = 0;
    while (p < text.length && text[p] === " ") p++;
  }
  return valid ? total + value : undefined;
}
