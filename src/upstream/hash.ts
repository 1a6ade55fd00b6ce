/**
 * `hash KEY` and `hash KEY consistent` (ngx_http_upstream_hash_module).
 *
 * Plain hash, compatible with Cache::Memcached: each round adds
 * (crc32([REHASH] KEY) >> 16) & 0x7fff to the running hash (REHASH, the round
 * number in decimal, is left out of the first) and maps it onto the primary
 * peers by weight; after 20 rounds, or with fewer than two peers or an empty
 * key, the request falls back to round-robin.
 *
 * Consistent hash, compatible with Cache::Memcached::Fast (ketama): 160 points
 * per unit of weight for every peer, point j of a peer being
 * crc32(HOST "\0" PORT prev_hash) where prev_hash is point j-1 as four
 * little-endian bytes (0 for the first); HOST and PORT come from the `server`
 * line's name as written. Points are sorted, equal hashes kept once. A request
 * starts at the first point >= crc32(KEY) and walks the ring until a point's
 * server has a usable peer (among several addresses of that server,
 * round-robin); after 20 points it falls back to round-robin.
 */

import { RoundRobinState, type Balancer, type PeerLists, type PickContext, type Selection } from "./balancer.js";
import { CRC32_INIT, crc32, crc32Final, crc32Update } from "./crc32.js";
import { byWeight } from "./ip-hash.js";
import { take, usable, type Peer } from "./peer.js";
import { pickRoundRobin, smoothWeighted } from "./round-robin.js";

export class Hash implements Balancer {
  constructor(private readonly lists: PeerLists) {}

  select(context: PickContext): Selection {
    const state = new RoundRobinState(this.lists);
    const key = Buffer.from(context.hashKey, "latin1");
    let hash = 0;
    let rehash = 0;
    let tries = 0;
    const pick = (nowMs: number): Peer | undefined => {
      const lists = this.lists;
      if (tries > 20 || lists.primary.length < 2 || key.length === 0) return pickRoundRobin(state, nowMs);
      for (;;) {
        let crc = CRC32_INIT;
        if (rehash > 0) crc = crc32Update(crc, Buffer.from(String(rehash), "latin1"));
        crc = crc32Final(crc32Update(crc, key));
        hash = (hash + ((crc >>> 16) & 0x7fff)) >>> 0;
        rehash++;
        const peer = byWeight(lists, hash % lists.totalWeight);
        if (!state.tried.has(peer) && usable(peer, nowMs)) {
          state.tried.add(peer);
          return take(peer, nowMs);
        }
        if (++tries > 20) return pickRoundRobin(state, nowMs);
      }
    };
    return { pick };
  }
}

export interface RingPoint {
  readonly hash: number;
  /** The `server` line's name the point belongs to. */
  readonly server: string;
}

/** ngx_http_upstream_update_chash(): the ring of points, sorted, one point per hash value. */
export function buildRing(peers: readonly Peer[]): RingPoint[] {
  const points: RingPoint[] = [];
  for (const peer of peers) {
    const { host, port } = splitServerName(peer.name);
    const base = crc32Update(crc32Update(crc32Update(CRC32_INIT, host), Buffer.from([0])), port);
    const prev = Buffer.alloc(4);
    for (let j = 0; j < peer.weight * 160; j++) {
      const hash = crc32Final(crc32Update(base, prev));
      points.push({ hash, server: peer.name });
      prev.writeUInt32LE(hash, 0);
    }
  }
  points.sort((a, b) => a.hash - b.hash);
  const unique: RingPoint[] = [];
  for (const point of points) {
    if (unique.length === 0 || unique[unique.length - 1]!.hash !== point.hash) unique.push(point);
  }
  return unique;
}

/** HOST and PORT of a server name as nginx splits it: "unix:" paths have no port; a port is digits after the last ':'. */
function splitServerName(name: string): { host: Buffer; port: Buffer } {
  const bytes = Buffer.from(name, "latin1");
  if (name.length >= 5 && name.slice(0, 5).toLowerCase() === "unix:") {
    return { host: bytes.subarray(5), port: Buffer.alloc(0) };
  }
  for (let j = 0; j < bytes.length; j++) {
    const c = bytes[bytes.length - j - 1]!;
    if (c === 0x3a) return { host: bytes.subarray(0, bytes.length - j - 1), port: bytes.subarray(bytes.length - j) };
    if (c < 0x30 || c > 0x39) break;
  }
  return { host: bytes, port: Buffer.alloc(0) };
}

/** ngx_http_upstream_find_chash_point(): the first point >= hash (ring.length when none). */
export function findPoint(ring: readonly RingPoint[], hash: number): number {
  let i = 0;
  let j = ring.length;
  while (i < j) {
    const k = (i + j) >>> 1;
    if (hash > ring[k]!.hash) i = k + 1;
    else if (hash < ring[k]!.hash) j = k;
    else return k;
  }
  return i;
}

export class ConsistentHash implements Balancer {
  readonly ring: readonly RingPoint[];

  constructor(private readonly lists: PeerLists) {
    this.ring = buildRing(lists.primary);
  }

  select(context: PickContext): Selection {
    const state = new RoundRobinState(this.lists);
    const key = Buffer.from(context.hashKey, "latin1");
    const ring = this.ring;
    let point = ring.length > 0 ? findPoint(ring, crc32(key)) : 0;
    let tries = 0;
    const pick = (nowMs: number): Peer | undefined => {
      if (tries > 20 || this.lists.single || key.length === 0) return pickRoundRobin(state, nowMs);
      if (ring.length === 0) return undefined;
      for (;;) {
        const server = ring[point % ring.length]!.server;
        const peer = smoothWeighted(this.lists.primary, state.tried, nowMs, (candidate) => candidate.name === server);
        if (peer) {
          state.tried.add(peer);
          return take(peer, nowMs);
        }
        point++;
        if (++tries > 20) return pickRoundRobin(state, nowMs);
      }
    };
    return { pick };
  }
}

/** The server a key maps to on a ring, as nginx would pick it with every peer up (for tests and status). */
export function ringServer(ring: readonly RingPoint[], key: string): string | undefined {
  if (ring.length === 0) return undefined;
  return ring[findPoint(ring, crc32(Buffer.from(key, "latin1"))) % ring.length]!.server;
}
