/**
 * `ip_hash` (ngx_http_upstream_ip_hash_module): the first three octets of an
 * IPv4 client address, or the whole IPv6 address, hashed as nginx does
 * (hash = (hash * 113 + byte) % 6271, starting from 89) and mapped onto the
 * primary peers by weight. A peer that is down, failed or full makes the
 * hash go round again; after 20 rounds the request falls back to round-robin.
 */

import { isIPv4, isIPv6 } from "node:net";
import { RoundRobinState, type Balancer, type PeerLists, type PickContext, type Selection } from "./balancer.js";
import { take, usable, type Peer } from "./peer.js";
import { pickRoundRobin } from "./round-robin.js";

export class IpHash implements Balancer {
  constructor(private readonly lists: PeerLists) {}

  select(context: PickContext): Selection {
    const state = new RoundRobinState(this.lists);
    const bytes = addressBytes(context.clientAddress);
    let hash = 89;
    let tries = 0;
    const pick = (nowMs: number): Peer | undefined => {
      const lists = this.lists;
      if (tries > 20 || lists.primary.length < 2) return pickRoundRobin(state, nowMs);
      let h = hash;
      for (;;) {
        for (const byte of bytes) h = (h * 113 + byte) % 6271;
        const peer = byWeight(lists, h % lists.totalWeight);
        if (!state.tried.has(peer) && usable(peer, nowMs)) {
          hash = h;
          state.tried.add(peer);
          return take(peer, nowMs);
        }
        if (++tries > 20) return pickRoundRobin(state, nowMs);
      }
    };
    return { pick };
  }
}

/** The peer that weight point `w` falls on, walking the primary peers in order. */
export function byWeight(lists: PeerLists, w: number): Peer {
  let rest = w;
  let i = 0;
  while (rest >= lists.primary[i]!.weight) {
    rest -= lists.primary[i]!.weight;
    i++;
  }
  return lists.primary[i]!;
}

/** The bytes nginx hashes: three of IPv4, sixteen of IPv6, three zeros for anything else. */
export function addressBytes(address: string): number[] {
  if (isIPv4(address)) return address.split(".").slice(0, 3).map(Number);
  if (isIPv6(address)) return ipv6Bytes(address);
  return [0, 0, 0];
}

function ipv6Bytes(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
    const v4 = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    const high = ((v4[0]! << 8) | v4[1]!).toString(16);
    const low = ((v4[2]! << 8) | v4[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (part: string | undefined): number[] =>
    part === undefined || part === "" ? [] : part.split(":").map((group) => parseInt(group, 16));
  const front = parse(head);
  const back = parse(rest);
  const groups =
    rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}
