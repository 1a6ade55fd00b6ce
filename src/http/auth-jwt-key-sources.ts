/**
 * The keys an auth_jwt check verifies a token with, from the location's key
 * sources in order: key files read at load (joined once per list), key files
 * whose path has variables (read per request), and `auth_jwt_key_request`
 * URIs, whose key set a subrequest fetches (http/subrequest.ts) — typically
 * an `internal` location proxying to the identity provider's jwks_uri.
 *
 * Keys read per request are kept for `auth_jwt_key_cache` (default 0: read
 * every time, as nginx), keyed by the file's path or the request's URI, so a
 * busy chat location does not fetch the provider's key set for each
 * handshake. A source that fails (a file that cannot be read, a subrequest
 * that does not answer 200 with a key set) fails the request with 500, and
 * the error log says why.
 */

import { parseKeySet, readKeySet, type JwtKey, type KeySetResult } from "../config/modules/auth-jwt-keys.js";
import type { JwtKeySource } from "../config/modules/auth-jwt.js";
import { resolveFromPrefix } from "../config/paths.js";
import type { ErrorLog } from "../log/error-log.js";
import type { HttpRequest } from "./request.js";
import type { Subrequest } from "./subrequest.js";

/** What reading the sources needs from the access phase. */
export interface KeyContext {
  readonly log: ErrorLog;
  readonly subrequest: Subrequest;
}

/** undefined: no key source applies (the signature is not checked, as documented); "error": one failed. */
export type KeysFound = readonly JwtKey[] | undefined | "error";

/** A key set fetched by a subrequest larger than this is refused. */
const MAX_KEY_SET_BYTES = 1024 * 1024;

/** Keys of lists read entirely at load, joined once per list. */
const joinedKeys = new WeakMap<readonly JwtKey[] | readonly JwtKeySource[], readonly JwtKey[]>();

/** Key sets read per request, by path or URI, while auth_jwt_key_cache keeps them. */
const cached = new Map<string, { readonly keys: readonly JwtKey[]; readonly untilMs: number }>();
/** Cache entries beyond this are dropped oldest first. */
const MAX_CACHED_SETS = 256;

export function keysOf(r: HttpRequest, context: KeyContext): KeysFound | Promise<KeysFound> {
  const sources = r.loc.authJwtKeySources;
  if (sources === undefined) return undefined;
  const joined = joinedKeys.get(sources);
  if (joined) return joined;
  if (sources.every((source) => source.kind === "loaded")) {
    const keys = sources.flatMap((source) => (source.kind === "loaded" ? source.keys : []));
    joinedKeys.set(sources, keys);
    return keys;
  }
  return gather(r, context, sources);
}

async function gather(r: HttpRequest, context: KeyContext, sources: readonly JwtKeySource[]): Promise<KeysFound> {
  const keys: JwtKey[] = [];
  for (const source of sources) {
    const set = source.kind === "loaded" ? source : await readSource(r, context, source);
    if ("error" in set) {
      context.log.log("error", set.error, r.logContext());
      return "error";
    }
    keys.push(...set.keys);
  }
  return keys;
}

async function readSource(
  r: HttpRequest,
  context: KeyContext,
  source: Exclude<JwtKeySource, { kind: "loaded" }>,
): Promise<KeySetResult> {
  const name = source.kind === "request" ? `request:${source.uri.evaluate(r)}` : filePath(r, source);
  const cacheMs = r.loc.authJwtKeyCacheMs;
  const now = Date.now();
  const hit = cacheMs > 0 ? cached.get(name) : undefined;
  if (hit && hit.untilMs > now) return hit;
  const set = source.kind === "request" ? await fetchKeySet(r, context, name.slice(8)) : readKeySet(name);
  if (cacheMs > 0 && !("error" in set)) remember(name, set.keys, now + cacheMs);
  return set;
}

function filePath(r: HttpRequest, source: Extract<JwtKeySource, { kind: "per-request" }>): string {
  const path = source.path.evaluate(r);
  return path.startsWith("/") ? path : resolveFromPrefix(source.confPrefix, path);
}

/** The key set a subrequest to `target` answers with: 200 and a JWKS body. */
async function fetchKeySet(r: HttpRequest, context: KeyContext, target: string): Promise<KeySetResult> {
  const question = target.indexOf("?");
  const uri = question === -1 ? target : target.slice(0, question);
  const args = question === -1 ? "" : target.slice(question + 1);
  const result = await context.subrequest(r, uri, args, { body: true, bodyLimit: MAX_KEY_SET_BYTES });
  if (result.tooBig) return { error: `JWT key set from "${target}" is larger than ${MAX_KEY_SET_BYTES} bytes` };
  if (result.status !== 200) return { error: `JWT key request "${target}" answered ${result.status}` };
  const set = parseKeySet((result.body ?? Buffer.alloc(0)).toString("utf8"));
  return "error" in set ? { error: `invalid JSON Web Key Set from "${target}": ${set.error}` } : set;
}

function remember(name: string, keys: readonly JwtKey[], untilMs: number): void {
  cached.delete(name);
  cached.set(name, { keys, untilMs });
  if (cached.size > MAX_CACHED_SETS) cached.delete(cached.keys().next().value!);
}
