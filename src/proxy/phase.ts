/**
 * Where a proxied request is, as one value, after nginx's upstream state
 * machine (ngx_http_upstream_init_request → connect → send_request →
 * process_header → send_response | upgrade | intercept_errors → finalize)
 * and Pingora's ProxyHttp phases:
 *
 *   start ─┬─ read request body ─┐            (proxy_request_buffering: the whole body first)
 *          └─────────────────────┴─ select peer ─┬─ connect ─┐
 *                                                └───────────┴─ send request ─ read response head
 *                                                                    │                  │
 *            relay | upgrade | intercept  ◀───────────────────────────┴──────────────────┘
 *                          │
 *                      finished
 *
 * A failed try goes back to "select peer" (proxy_next_upstream); any phase
 * may end in "finished" (an error answered, the client gone). The table below
 * is the whole machine: a move it does not list is a bug.
 */

export type Phase =
  | "start"
  | "read request body"
  | "select peer"
  | "connect"
  | "send request"
  | "read response head"
  | "relay"
  | "upgrade"
  | "intercept"
  | "finished";

const NEXT: Readonly<Record<Phase, readonly Phase[]>> = {
  start: ["read request body", "select peer", "finished"],
  "read request body": ["select peer", "finished"],
  "select peer": ["connect", "send request", "finished"],
  connect: ["send request", "select peer", "finished"],
  // An upstream may answer before the whole request is written (nginx reads the head meanwhile).
  "send request": ["read response head", "relay", "upgrade", "intercept", "select peer", "finished"],
  "read response head": ["relay", "upgrade", "intercept", "select peer", "finished"],
  relay: ["finished"],
  upgrade: ["finished"],
  intercept: ["finished"],
  finished: [],
};

export function canMove(from: Phase, to: Phase): boolean {
  return NEXT[from].includes(to);
}

/** The upstream's response head was taken: no other peer will be tried, no error page sent for it. */
export function responseStarted(phase: Phase): boolean {
  return phase === "relay" || phase === "upgrade" || phase === "intercept";
}

/** A try is under way on an upstream socket, before its response head. */
export function tryUnderWay(phase: Phase): boolean {
  return phase === "connect" || phase === "send request" || phase === "read response head";
}
