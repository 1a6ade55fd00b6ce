/**
 * Regex captures as variables: $1 … $9 are the last match's groups, and each
 * named group `(?<name>…)` is a variable $name, kept until a later match
 * sets it again (nginx stores them with the request's variables).
 */

import type { Getter } from "./registry.js";
import type { VariableSource } from "./source.js";

export function namedCaptureVariable(name: string): Getter {
  return (r) => r.namedCaptures?.[name];
}

/** Record a match made for this request: its numbered groups replace the last ones, its named groups are set. */
export function recordMatch(r: VariableSource, match: RegExpExecArray): void {
  r.captures = Array.from(match, (group) => group ?? "");
  if (match.groups) r.namedCaptures = { ...r.namedCaptures, ...definedGroups(match.groups) };
}

/** The named groups that took part in the match (an unmatched optional group is not set). */
export function definedGroups(groups: Record<string, string | undefined>): Record<string, string> {
  const defined: Record<string, string> = {};
  for (const [name, value] of Object.entries(groups)) if (value !== undefined) defined[name] = value;
  return defined;
}
