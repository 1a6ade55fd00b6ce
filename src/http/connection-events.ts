/**
 * What a client connection (connection.ts) tells the request flow, what it
 * asks of a request body's consumer, and its socket listeners: shared by
 * every connection (`this` is the socket, so thousands of open connections
 * cost no closures), each guarded so that a throw ends that connection only.
 */

import type { Socket } from "node:net";
import type { ClientConnection } from "./connection.js";
import type { RequestHead } from "./request-head.js";

export interface BodySink {
  /** A piece of body; false asks the connection to stop reading until resumeBody(). */
  data(chunk: Buffer): boolean;
  end(): void;
  /** The body could not be read: a framing error (400) or a client gone. */
  fail(status: number, reason: string): void;
}

/** Why a request in flight ended from the client's side: it went away, failed, or its timeout fired. */
export type AbortReason = "closed" | "error" | "timeout";

export interface ConnectionEvents {
  /** A complete head; the connection is now in "request" state. */
  onHead(connection: ClientConnection, head: RequestHead): void;
  /** The head could not be parsed; `requestLine` when the line itself was read. */
  onBadHead(connection: ClientConnection, status: number, reason: string, requestLine?: string, host?: string): void;
  /** The client went away or timed out while a request was in flight. */
  onAbort(connection: ClientConnection, reason: AbortReason): void;
  /** client_header_timeout with part of a request read: nginx logs a 408. */
  onHeadTimeout(connection: ClientConnection, partial: string): void;
  /** A timeout ends the request in flight: whether its location has reset_timedout_connection on. */
  resetsOnTimeout(connection: ClientConnection): boolean;
  /**
   * A handler threw: the connection is being closed (its request's abort handler has run).
   * Log an alert, and the request if it was not logged (`head`: the request in flight, if any).
   */
  onCrash(connection: ClientConnection, err: Error, head: RequestHead | undefined): void;
}

const kConnection = Symbol("wsgate.connection");
type ConnectionSocket = Socket & { [kConnection]: ClientConnection };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
type Listener = (...args: any[]) => void;
/** A listener that calls `method` and turns a throw into the end of this connection only. */
function guarded(method: (connection: ClientConnection, arg?: Buffer) => void): Listener {
  return function (this: ConnectionSocket, arg?: Buffer) {
    const connection = this[kConnection];
    try {
      method(connection, arg);
    } catch (err) {
      connection.crash(err);
    }
  };
}

const SOCKET_LISTENERS: ReadonlyArray<readonly [string, Listener]> = [
  ["data", guarded((connection, chunk) => connection.onData(chunk!))],
  ["end", guarded((connection) => connection.onEnd())],
  ["error", guarded((connection) => connection.onSocketError())],
  ["close", guarded((connection) => connection.onClose())],
  ["timeout", guarded((connection) => connection.onTimeout())],
];

/** Listen on `socket` for `connection`. */
export function attachListeners(socket: Socket, connection: ClientConnection): void {
  (socket as ConnectionSocket)[kConnection] = connection;
  for (const [event, listener] of SOCKET_LISTENERS) socket.on(event, listener);
}

/** Stop listening (the socket goes to a tunnel). */
export function detachListeners(socket: Socket): void {
  for (const [event, listener] of SOCKET_LISTENERS) socket.off(event, listener);
}
