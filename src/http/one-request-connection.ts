/**
 * A ClientConnection that carries one request for a connection it stands in
 * for — an HTTP/2 stream for its session, a subrequest for its parent's
 * connection: it shares that connection's id, start, TLS, PROXY protocol and
 * protocol facts (so $connection, $ssl_*, $proxy_protocol_* and $http2 read
 * the same), counts as its next request ($connection_requests), and closes
 * once the request is answered.
 */

import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
import type { SrvConf } from "../config/model.js";
import { ClientConnection, type ConnectionEvents } from "./connection.js";

/** What the carried connection shares with the one it stands in for. */
export interface CarriedFacts {
  readonly id: number;
  readonly startMs: number;
  readonly http2?: ClientConnection["http2"];
  readonly tls?: ClientConnection["tls"];
  readonly proxyProtocol?: ClientConnection["proxyProtocol"];
  /** Requests the real connection has served, this one included. */
  readonly requests: number;
}

export function oneRequestConnection(
  socket: Duplex,
  srv: SrvConf,
  events: ConnectionEvents,
  keepaliveTimeoutMs: number,
  facts: CarriedFacts,
): ClientConnection {
  const connection = new ClientConnection(
    socket as unknown as Socket,
    srv,
    events,
    keepaliveTimeoutMs,
    facts.id,
    facts.startMs,
  );
  connection.http2 = facts.http2;
  connection.tls = facts.tls;
  connection.proxyProtocol = facts.proxyProtocol;
  // Closed once answered (marked before the count says it served others).
  connection.closeWhenIdle();
  connection.requests = facts.requests - 1;
  return connection;
}
