/**
 * Header names compared as nginx compares them, case-insensitively, without
 * making a lower-cased copy of each name looked at: on the request path
 * every header of every request goes through such comparisons, and each
 * `toLowerCase()` of a name with a capital is a string for the collector.
 */

/** name.toLowerCase() === lower, for `lower` already in lower case. */
export function isHeader(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) {
      // Outside ASCII, lower-casing is toLowerCase()'s to decide.
      return c >= 0x80 ? name.toLowerCase() === lower : false;
    }
  }
  return true;
}
