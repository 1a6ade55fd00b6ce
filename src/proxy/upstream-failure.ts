/**
 * What a failed try means, in nginx's words (ngx_event_connect_peer,
 * ngx_http_upstream_send_request, ngx_http_upstream_process_header,
 * ngx_http_upstream_next): the error-log line and its level, and whether the
 * try goes to proxy_next_upstream, ends the request, or is only logged.
 */

import { systemErrorText } from "../core/errors.js";
import type { LogLevel } from "../config/model.js";
import { handshakeFailure } from "../upstream/tls-errors.js";
import { UpstreamTlsError } from "../upstream/upstream-tls.js";
import type { BodyOutcome } from "./response-body.js";
import type { AttemptTimeout } from "./upstream-attempt.js";

/** Where the try was when its socket failed. */
export interface FailurePoint {
  readonly connected: boolean;
  /** In the TLS handshake to an https upstream (TCP connected, not yet verified). */
  readonly handshaking?: boolean;
  /** The peer is a unix socket: connect() fails at once, and nginx names the socket. */
  readonly unixPeer: string | undefined;
  readonly requestSent: boolean;
  /** The response head was taken: "relay" or "upgrade" (then the error is only logged). */
  readonly responding: "relay" | "upgrade" | undefined;
}

export type ErrorVerdict =
  /** The proxy itself is short of descriptors or memory: nginx's socket() failure, a 500. */
  | { readonly then: "fail"; readonly status: 500; readonly level: LogLevel; readonly message: string }
  /** The try failed (proxy_next_upstream error): `doing` names the phase for later lines. */
  | { readonly then: "next"; readonly level: LogLevel; readonly message: string; readonly doing: string }
  /** The response is under way: the relay or the tunnel ends it; the line is all. */
  | { readonly then: "log"; readonly level: LogLevel; readonly message: string };

/** connect() errors nginx logs at "error"; any other is "crit" (ngx_event_connect_peer). */
const SOFT_CONNECT_ERRORS: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "EAGAIN",
  "ECONNRESET",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
]);

/** Errors that say this process, not the peer, is out of something. */
const OUT_OF_RESOURCES: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

export function upstreamErrorVerdict(err: Error, at: FailurePoint): ErrorVerdict {
  const reason = systemErrorText(err);
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (!at.connected && OUT_OF_RESOURCES.has(code)) {
    return {
      then: "fail",
      status: 500,
      level: "alert",
      message: `socket() failed (${reason}) while connecting to upstream`,
    };
  }
  if (err instanceof UpstreamTlsError || (!at.connected && at.handshaking)) {
    // ngx_http_upstream_ssl_handshake(): every failure there is proxy_next_upstream's "error".
    const doing = "SSL handshaking to upstream";
    const failure =
      err instanceof UpstreamTlsError ? { level: "error" as const, message: err.message } : handshakeFailure(err);
    return { then: "next", level: failure.level, message: `${failure.message} while ${doing}`, doing };
  }
  if (!at.connected) {
    const doing = "connecting to upstream";
    // A unix socket fails at once, in connect() itself: nginx names the socket, and is louder unless refused.
    if (at.unixPeer !== undefined) {
      const level = SOFT_CONNECT_ERRORS.has(code) ? "error" : "crit";
      return { then: "next", level, message: `connect() to ${at.unixPeer} failed (${reason}) while ${doing}`, doing };
    }
    return { then: "next", level: "error", message: `connect() failed (${reason}) while ${doing}`, doing };
  }
  if (at.responding === undefined) {
    const doing = at.requestSent ? "reading response header from upstream" : "sending request to upstream";
    const call = at.requestSent ? "recv" : "send";
    return { then: "next", level: "error", message: `${call}() failed (${reason}) while ${doing}`, doing };
  }
  // In a tunnel the tunnel closes both sides; nginx names the phase so.
  const phase = at.responding === "upgrade" ? "proxying upgraded connection" : "reading upstream";
  return { then: "log", level: "error", message: `recv() failed (${reason}) while ${phase}` };
}

/** What each timer's expiry was doing (the phase nginx's log action names). */
export function timeoutDoing(which: AttemptTimeout): string {
  switch (which) {
    case "connect":
      return "connecting to upstream";
    case "handshake":
      return "SSL handshaking to upstream";
    case "send":
      return "sending request to upstream";
    case "read":
      return "reading response header from upstream";
  }
}

export const TIMED_OUT = "upstream timed out (110: Connection timed out)";

/** nginx's words for a response body that did not end as framed. */
export const BODY_FAILURE: Readonly<Record<Exclude<BodyOutcome, "complete">, string>> = {
  premature: "upstream prematurely closed connection",
  invalid: "upstream sent invalid chunked response",
  timeout: TIMED_OUT,
};
