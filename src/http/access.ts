/**
 * The access phase of ngx_http_access_module: the first allow/deny rule that
 * matches the client's address decides; no rule matching allows. An IPv4
 * client seen as an IPv4-mapped IPv6 address is checked against the IPv4
 * rules, as nginx does.
 */

import { isIPv4, isIPv6 } from "node:net";
import type { AccessRule } from "../config/model.js";
import { addressBytes } from "../config/modules/access.js";

/** Whether the rules let `address` in ("" or "unix:…" for a unix socket client). */
export function accessAllowed(rules: readonly AccessRule[], address: string): boolean {
  return accessDecision(rules, address) !== "deny";
}

/**
 * What the access module's handler answers: the first matching rule's
 * "allow" or "deny", or "declined" without rules or without a match (which
 * matters under `satisfy any`: only "allow" is enough there).
 */
export function accessDecision(rules: readonly AccessRule[], address: string): "allow" | "deny" | "declined" {
  if (rules.length === 0) return "declined";
  const client = clientAddress(address);
  for (const rule of rules) {
    if (matches(rule.match, client)) return rule.allow ? "allow" : "deny";
  }
  return "declined";
}

export type Client = { readonly family: 4 | 6; readonly bytes: Uint8Array } | { readonly family: "unix" };

export function clientAddress(address: string): Client {
  if (isIPv4(address)) return { family: 4, bytes: addressBytes(address, 4) };
  if (isIPv6(address)) {
    const bytes = addressBytes(address, 6);
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return mapped ? { family: 4, bytes: bytes.slice(12) } : { family: 6, bytes };
  }
  return { family: "unix" };
}

export function matches(match: AccessRule["match"], client: Client): boolean {
  if (match.kind === "all") return true;
  if (match.kind === "unix") return client.family === "unix";
  if (client.family !== match.family) return false;
  for (let bit = 0; bit < match.prefix; bit += 8) {
    const left = match.prefix - bit;
    const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
    if ((client.bytes[bit >> 3]! & mask) !== match.bytes[bit >> 3]) return false;
  }
  return true;
}
