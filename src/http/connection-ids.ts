/**
 * Connection numbers ($connection, the error log's "*N") and the count of
 * requests begun on every connection (stub_status's "requests").
 */

let nextConnectionId = 1;

/** Requests begun on every connection (stub_status's "requests"). */
export const requestCounter = { total: 0 };

/** The next connection number; taken before the connection is made where a TLS handshake's log lines carry it. */
export function takeConnectionId(): number {
  return nextConnectionId++;
}
