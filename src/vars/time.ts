/**
 * nginx's time formats. nginx caches the formatted strings once per second;
 * so do these, which matters when every log line asks for them.
 */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

let cachedSecond = -1;
let cachedLocal = "";
let cachedIso = "";
let cachedErrorLog = "";

function refresh(ms: number): void {
  const second = Math.floor(ms / 1000);
  if (second === cachedSecond) return;
  cachedSecond = second;
  const d = new Date(second * 1000);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  const zone = `${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  const date = `${pad(d.getDate())}/${MONTHS[d.getMonth()]!}/${d.getFullYear()}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  cachedLocal = `${date}:${time} ${sign}${zone}`;
  const isoDate = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  cachedIso = `${isoDate}T${time}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  cachedErrorLog = `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${time}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** $time_local: "25/Nov/2026:10:00:00 +0000". */
export function formatLocalTime(ms: number): string {
  refresh(ms);
  return cachedLocal;
}

/** $time_iso8601: "2026-11-25T10:00:00+00:00". */
export function formatIso8601(ms: number): string {
  refresh(ms);
  return cachedIso;
}

/** The error log's "2026/11/25 10:00:00". */
export function formatErrorLogTime(ms: number): string {
  refresh(ms);
  return cachedErrorLog;
}

/** $msec: seconds with millisecond resolution, "1764064800.123". */
export function formatMsec(ms: number): string {
  return (ms / 1000).toFixed(3);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
let httpDateSecond = -1;
let cachedHttpDate = "";

/** The Date header: "Wed, 25 Nov 2026 10:00:00 GMT". */
export function formatHttpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== httpDateSecond) {
    httpDateSecond = second;
    const d = new Date(second * 1000);
    const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    cachedHttpDate = `${DAYS[d.getUTCDay()]!}, ${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]!} ${d.getUTCFullYear()} ${time} GMT`;
  }
  return cachedHttpDate;
}
