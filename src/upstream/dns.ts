/**
 * The `resolver` at run time: A (and, with ipv6=on, AAAA) queries over UDP to
 * the configured name servers (Node's dns.Resolver, c-ares), answers kept for
 * their TTL or `valid=`, failures reported with nginx's codes and texts
 * (ngx_resolver_strerror): "Host not found" (3) for NXDOMAIN and for a name
 * without addresses, "Server failure" (2), "Operation refused" (5),
 * "Operation timed out" (110) when resolver_timeout passes without an answer.
 */

import { Resolver } from "node:dns/promises";
import type { ResolverConf } from "../config/model.js";

/** Names cached at most (a variable may bring any name): expired ones go first, then the oldest. */
const CACHE_LIMIT = 10_000;

export interface Resolved {
  readonly addresses: readonly string[];
  /** When the answer stops being valid (TTL, or valid=), ms since the epoch. */
  readonly expiresMs: number;
}

export class ResolveError extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
  ) {
    super(`${code}: ${text}`);
  }
}

/** ngx_resolver_strerror()'s texts by nginx's state code. */
const STATE_TEXT: Record<number, string> = {
  1: "Format error",
  2: "Server failure",
  3: "Host not found",
  4: "Unimplemented",
  5: "Operation refused",
  110: "Operation timed out",
};

/** c-ares error codes to nginx's resolver states. */
function stateOf(err: unknown): number {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOTFOUND":
    case "ENODATA":
      return 3;
    case "ESERVFAIL":
      return 2;
    case "EFORMERR":
    case "EBADRESP":
      return 1;
    case "ENOTIMP":
      return 4;
    case "EREFUSED":
      return 5;
    default:
      return 110;
  }
}

function resolveError(state: number): ResolveError {
  return new ResolveError(state, STATE_TEXT[state] ?? "Unknown error");
}

export class DnsClient {
  private readonly cache = new Map<string, Resolved>();
  private readonly pending = new Map<string, Promise<Resolved>>();

  constructor(
    readonly conf: ResolverConf,
    private readonly timeoutMs: number,
  ) {}

  /** The addresses of `name`: from the cache while valid, else asked (one query at a time per name). */
  resolve(name: string, nowMs = Date.now()): Promise<Resolved> {
    const key = name.toLowerCase();
    const cached = this.cache.get(key);
    if (cached && cached.expiresMs > nowMs) return Promise.resolve(cached);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    const query = this.query(key).finally(() => this.pending.delete(key));
    this.pending.set(key, query);
    return query;
  }

  private remember(name: string, resolved: Resolved): void {
    this.cache.delete(name);
    if (this.cache.size >= CACHE_LIMIT) {
      const now = Date.now();
      for (const [key, entry] of this.cache) if (entry.expiresMs <= now) this.cache.delete(key);
      for (const key of this.cache.keys()) {
        if (this.cache.size < CACHE_LIMIT) break;
        this.cache.delete(key);
      }
    }
    this.cache.set(name, resolved);
  }

  private async query(name: string): Promise<Resolved> {
    // c-ares retries every second (as nginx's resolver resends), within resolver_timeout.
    const tries = Math.max(1, Math.ceil(this.timeoutMs / 1000));
    const resolver = new Resolver({ timeout: Math.min(this.timeoutMs, 1000), tries });
    resolver.setServers(
      this.conf.servers.map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)),
    );
    const asks: Array<Promise<Array<{ address: string; ttl: number }>>> = [];
    if (this.conf.ipv4) asks.push(resolver.resolve4(name, { ttl: true }));
    if (this.conf.ipv6) asks.push(resolver.resolve6(name, { ttl: true }));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        resolver.cancel();
        reject(resolveError(110));
      }, this.timeoutMs);
    });
    let results: Array<PromiseSettledResult<Array<{ address: string; ttl: number }>>>;
    try {
      results = await Promise.race([Promise.allSettled(asks), deadline]);
    } finally {
      clearTimeout(timer);
    }
    const records = results.flatMap((result) => (result.status === "fulfilled" ? result.value : []));
    if (records.length === 0) {
      const failed = results.find((result) => result.status === "rejected");
      // Both failed: a real failure (server, timeout) is reported before "not found" of the other family.
      const states = results.map((result) => (result.status === "rejected" ? stateOf(result.reason) : 3));
      const state = states.find((s) => s !== 3) ?? (failed ? stateOf(failed.reason) : 3);
      throw resolveError(state);
    }
    const ttl = Math.min(...records.map((record) => record.ttl));
    const validMs = this.conf.validMs ?? ttl * 1000;
    const resolved: Resolved = { addresses: records.map((record) => record.address), expiresMs: Date.now() + validMs };
    this.remember(name, resolved);
    return resolved;
  }
}

/** One client per resolver configuration (and timeout), shared by the requests and groups that use it. */
const clients = new WeakMap<ResolverConf, Map<number, DnsClient>>();

export function dnsClient(conf: ResolverConf, timeoutMs: number): DnsClient {
  let byTimeout = clients.get(conf);
  if (!byTimeout) clients.set(conf, (byTimeout = new Map()));
  let client = byTimeout.get(timeoutMs);
  if (!client) byTimeout.set(timeoutMs, (client = new DnsClient(conf, timeoutMs)));
  return client;
}
