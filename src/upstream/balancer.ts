/**
 * What every balancing method shares: the peer lists of a group and the
 * per-request state of nginx's round-robin (ngx_http_upstream_rr_peer_data_t),
 * which the other methods fall back to.
 */

import type { Peer } from "./peer.js";

export interface PeerLists {
  readonly primary: readonly Peer[];
  readonly backup: readonly Peer[];
  /** One primary peer and no backup (nginx's `peers->single`). */
  readonly single: boolean;
  /** The sum of the primary peers' weights, down ones included. */
  readonly totalWeight: number;
}

/** What a balancer may read of the request. */
export interface PickContext {
  /** The client's address as text ("127.0.0.1", "::1", "" for a unix socket). */
  readonly clientAddress: string;
  /** The `hash` key, evaluated once per request. */
  readonly hashKey: string;
}

/** One request's way through a group's peers: each pick() is one try. */
export interface Selection {
  pick(nowMs: number): Peer | undefined;
}

export interface Balancer {
  select(context: PickContext): Selection;
}

/** The round-robin part of a request's state: which list it is on, and the peers it tried there. */
export class RoundRobinState {
  onBackup = false;
  readonly tried = new Set<Peer>();

  constructor(readonly lists: PeerLists) {}

  get current(): readonly Peer[] {
    return this.onBackup ? this.lists.backup : this.lists.primary;
  }

  /** Every primary peer failed: go on with the backups, none of them tried yet. Returns false when there are none. */
  toBackups(): boolean {
    if (this.onBackup || this.lists.backup.length === 0) return false;
    this.onBackup = true;
    this.tried.clear();
    return true;
  }
}
