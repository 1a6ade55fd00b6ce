/**
 * proxy_ssl_session_reuse's store: the latest TLS session of each peer of a
 * group (nginx keeps one in each round-robin peer,
 * ngx_http_upstream_save_round_robin_peer_session), gone with a group made
 * for one request (proxy_pass with variables). Sessions are kept apart by
 * the TLS settings they were made with: nginx (TLS 1.3, as its default
 * protocols give with current backends) resumes them only under the same
 * settings.
 *
 * A session carries what OpenSSL keeps in it: the result of the certificate
 * chain's verification (a resumed connection has that result, not a new one).
 */

import type { UpstreamAddress } from "../config/model.js";

export interface PeerSession {
  readonly session: Buffer;
  /** "(N:TEXT)" of the chain's verification when the session was made; undefined: it passed. */
  readonly chain: string | undefined;
}

/** By group, then by the settings' client context, then by peer. */
const SESSIONS = new WeakMap<object, WeakMap<object, Map<string, PeerSession>>>();

export function peerSession(group: object, settings: object, address: UpstreamAddress): PeerSession | undefined {
  return SESSIONS.get(group)?.get(settings)?.get(address.text);
}

export function savePeerSession(group: object, settings: object, address: UpstreamAddress, entry: PeerSession): void {
  let bySettings = SESSIONS.get(group);
  if (!bySettings) {
    bySettings = new WeakMap();
    SESSIONS.set(group, bySettings);
  }
  let sessions = bySettings.get(settings);
  if (!sessions) {
    sessions = new Map();
    bySettings.set(settings, sessions);
  }
  sessions.set(address.text, entry);
}
