/**
 * A `map` variable's lookup, after ngx_http_map_find(): exact keys
 * (case-insensitive), then with `hostnames` the wildcard keys, then regexes in
 * the order written, then the default. A matching regex's captures become
 * the request's $1…$9, so the value (and later directives) can use them.
 */

import { recordMatch } from "./captures.js";
import type { ComplexValue } from "./complex-value.js";
import type { VariableSource } from "./source.js";

export interface MapRegexEntry {
  readonly regex: RegExp;
  readonly value: ComplexValue;
}

export interface MapTable {
  readonly source: ComplexValue;
  readonly exact: ReadonlyMap<string, ComplexValue>;
  /** `*.example.com` and `.example.com` keys as the suffix ".example.com"; the second also matches "example.com". */
  readonly leadingWildcards: ReadonlyArray<readonly [suffix: string, value: ComplexValue, matchesBare: boolean]>;
  /** `www.example.*` keys, stored as the prefix "www.example.". */
  readonly trailingWildcards: ReadonlyArray<readonly [prefix: string, value: ComplexValue]>;
  readonly regexes: readonly MapRegexEntry[];
  readonly defaultValue: ComplexValue | undefined;
  readonly hostnames: boolean;
}

export function lookupMap(table: MapTable, r: VariableSource): string {
  let key = table.source.evaluate(r);
  if (table.hostnames && key.endsWith(".")) key = key.slice(0, -1);
  const found = findValue(table, key, r);
  return found ? found.evaluate(r) : (table.defaultValue?.evaluate(r) ?? "");
}

function findValue(table: MapTable, key: string, r: VariableSource): ComplexValue | undefined {
  const lower = key.toLowerCase();
  const exact = table.exact.get(lower);
  if (exact) return exact;
  if (table.hostnames) {
    const wildcard = longestLeading(table, lower) ?? longestTrailing(table, lower);
    if (wildcard) return wildcard;
  }
  for (const entry of table.regexes) {
    const match = entry.regex.exec(key);
    if (match) {
      recordMatch(r, match);
      return entry.value;
    }
  }
  return undefined;
}

function longestLeading(table: MapTable, host: string): ComplexValue | undefined {
  let best: readonly [string, ComplexValue, boolean] | undefined;
  for (const entry of table.leadingWildcards) {
    const suffix = entry[0];
    const matches = host.endsWith(suffix) || (entry[2] && host === suffix.slice(1));
    if (matches && (!best || suffix.length > best[0].length)) best = entry;
  }
  return best?.[1];
}

function longestTrailing(table: MapTable, host: string): ComplexValue | undefined {
  let best: readonly [string, ComplexValue] | undefined;
  for (const entry of table.trailingWildcards) {
    if (host.startsWith(entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
  }
  return best?.[1];
}
