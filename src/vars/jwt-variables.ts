/**
 * The variables of ngx_http_auth_jwt_module: $jwt_header_NAME and
 * $jwt_claim_NAME (a top-level field of the token's JOSE header or claims;
 * a name with a dot is not a path, as nginx documents: auth_jwt_claim_set
 * walks nested claims), $jwt_payload (the payload's JSON text), and the
 * variables auth_jwt_claim_set / auth_jwt_header_set define.
 *
 * Values are read from the token the access phase accepted (r.jwt): before
 * that, or without a token, they are not found. They are not cached, so a
 * use before the access phase (a rewrite) does not pin "not found" for the
 * rest of the request.
 */

import type { VariableRegistry } from "./registry.js";
import type { JwtFacts, VariableSource } from "./source.js";

export function registerJwtVariables(registry: VariableRegistry): void {
  registry.definePrefix("jwt_header_", (name) => ({ get: (r) => field(r.jwt?.header, [name]), cacheable: false }));
  registry.definePrefix("jwt_claim_", (name) => ({ get: (r) => field(r.jwt?.claims, [name]), cacheable: false }));
  registry.define("jwt_payload", (r) => r.jwt?.payload, false);
}

/** The getter of `auth_jwt_claim_set $var name …` (or `auth_jwt_header_set`): the path from the top of the JSON tree. */
export function jwtPathGetter(part: keyof Pick<JwtFacts, "header" | "claims">, path: readonly string[]) {
  return (r: VariableSource): string | undefined => field(r.jwt?.[part], path);
}

/** The value at `path` as text; undefined (not found) where the path leads nowhere. */
function field(root: Readonly<Record<string, unknown>> | undefined, path: readonly string[]): string | undefined {
  let value: unknown = root;
  for (const name of path) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(value, name)) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  if (value === undefined) return undefined;
  // "For arrays, the variable keeps a list of array elements separated by commas."
  if (Array.isArray(value)) return value.map(text).join(",");
  return text(value);
}

/** A JSON value as a variable's text: strings as they are, objects as JSON, null as "". */
function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
