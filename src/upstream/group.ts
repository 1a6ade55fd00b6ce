/**
 * An upstream group at run time: its peers with their state, the balancing
 * method that picks one per try (round-robin, least_conn, ip_hash, hash), and
 * the cache of idle keepalive connections.
 *
 * Passive health follows max_fails/fail_timeout as
 * ngx_http_upstream_free_round_robin_peer(): every failure lowers the peer's
 * effective weight by weight/max_fails; max_fails failures within
 * fail_timeout take it out for fail_timeout; a success after it was chosen
 * again clears the count. A group of one peer never counts failures.
 */

import type { UpstreamAddress, UpstreamConf, UpstreamServerConf } from "../config/model.js";
import type { VariableSource } from "../vars/source.js";
import type { Balancer, PeerLists, Selection } from "./balancer.js";
import type { ErrorLog } from "../log/error-log.js";
import { ConsistentHash, Hash } from "./hash.js";
import { HealthChecker } from "./health-check.js";
import { IpHash } from "./ip-hash.js";
import { KeepalivePool } from "./keepalive-pool.js";
import { LeastConn } from "./least-conn.js";
import { makePeers, type Peer } from "./peer.js";
import { ReResolver } from "./re-resolve.js";
import { RoundRobin } from "./round-robin.js";

export type { Peer } from "./peer.js";

/** How a try ended, for the peer's health: nginx's 0, NGX_PEER_FAILED, NGX_PEER_NEXT. */
export type PeerOutcome = "ok" | "failed" | "next";

export class UpstreamGroup {
  peers: readonly Peer[] = [];
  backups: readonly Peer[] = [];
  lists!: PeerLists;
  balancer!: Balancer;
  /** ngx_http_upstream_tries(): the peers not marked `down`, backups included. */
  tries = 0;
  readonly keepalive: KeepalivePool | undefined;
  private checker: HealthChecker | undefined;
  private resolving: ReResolver | undefined;
  /** The servers with their current addresses (`server … resolve` changes them at run time). */
  private readonly servers: UpstreamServerConf[];
  /** The peers by server line and address, so that a peer whose address stays is kept with its state. */
  private peerByKey = new Map<string, Peer>();

  constructor(readonly conf: UpstreamConf) {
    this.servers = [...conf.servers];
    this.build();
    this.keepalive = conf.keepalive ? new KeepalivePool({ ...conf.keepalive, ...conf.keepaliveSettings }) : undefined;
  }

  /** (Re)make the peer lists and the balancer from the servers' addresses; requests in flight keep their picks. */
  private build(): void {
    const byKey = new Map<string, Peer>();
    const all: Peer[] = [];
    this.servers.forEach((server, index) => {
      const fresh = makePeers(server);
      server.addresses.forEach((address, i) => {
        const key = `${index} ${address.text}`;
        const peer = this.peerByKey.get(key) ?? fresh[i]!;
        byKey.set(key, peer);
        all.push(peer);
      });
    });
    this.peerByKey = byKey;
    this.peers = all.filter((peer) => !peer.backup);
    this.backups = all.filter((peer) => peer.backup);
    this.lists = {
      primary: this.peers,
      backup: this.backups,
      single: this.peers.length === 1 && this.backups.length === 0,
      totalWeight: this.peers.reduce((sum, peer) => sum + peer.weight, 0),
    };
    this.tries = all.filter((peer) => !peer.down).length;
    this.balancer = makeBalancer(this.conf, this.lists);
    this.checker?.setPeers(all);
  }

  /**
   * A `resolve` server's addresses changed: peers of addresses that stay are
   * kept as they are (counts, failures, health); new ones are added; gone ones
   * get no new connections, while their open requests and tunnels go on.
   */
  setAddresses(index: number, addresses: readonly UpstreamAddress[]): void {
    const server = this.servers[index];
    if (!server) return;
    this.servers[index] = { ...server, addresses };
    this.build();
  }

  get name(): string {
    return this.conf.name;
  }

  /** Start one request's selection: its hash key and client address are read here, once. */
  select(r: VariableSource): Selection {
    const balancing = this.conf.balancing;
    const hashKey = balancing?.kind === "hash" ? balancing.key.evaluate(r) : "";
    return this.balancer.select({ clientAddress: r.remoteAddress, hashKey });
  }

  /**
   * A try is over (ngx_http_upstream_free_round_robin_peer): release the
   * connection count and update the peer's health. Returns true when this
   * failure reached max_fails ("upstream server temporarily disabled").
   */
  free(peer: Peer, outcome: PeerOutcome, nowMs: number): boolean {
    peer.active--;
    if (this.lists.single) return false;
    if (outcome !== "failed") {
      if (peer.accessedMs < peer.checkedMs) peer.fails = 0;
      return false;
    }
    peer.fails++;
    peer.accessedMs = nowMs;
    peer.checkedMs = nowMs;
    let disabled = false;
    if (peer.maxFails > 0) {
      peer.effectiveWeight -= Math.floor(peer.weight / peer.maxFails);
      disabled = peer.fails >= peer.maxFails;
    }
    if (peer.effectiveWeight < 0) peer.effectiveWeight = 0;
    return disabled;
  }

  /** The active checks of wsgate_health_check, when the group has it. */
  get healthChecker(): HealthChecker | undefined {
    return this.checker;
  }

  /** Start wsgate_health_check's checks and the re-resolution of `resolve` servers (once the server runs). */
  startHealthChecks(log: ErrorLog): void {
    if (!this.resolving && this.servers.some((server) => server.resolve)) {
      this.resolving = new ReResolver(this, this.servers, log);
      this.resolving.start();
    }
    if (!this.conf.healthCheck || this.checker) return;
    this.checker = new HealthChecker(this.name, [...this.peers, ...this.backups], this.conf.healthCheck, log);
    this.checker.start();
  }

  /** The first lookups of `resolve` servers have ended (bounded wait); at once without such servers. */
  async firstLookups(): Promise<void> {
    await this.resolving?.firstLookups();
  }

  /** Stop the checks and close idle connections (shutdown). */
  close(): void {
    this.resolving?.stop();
    this.checker?.stop();
    this.keepalive?.closeAll();
  }
}

function makeBalancer(conf: UpstreamConf, lists: PeerLists): Balancer {
  const balancing = conf.balancing;
  switch (balancing?.kind) {
    case "least-conn":
      return new LeastConn(lists);
    case "ip-hash":
      return new IpHash(lists);
    case "hash":
      return balancing.consistent ? new ConsistentHash(lists) : new Hash(lists);
    default:
      return new RoundRobin(lists);
  }
}
