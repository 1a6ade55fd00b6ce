/**
 * wsgate's per-tunnel variables ($wsgate_messages_from_client …), read from
 * the counters of the request's WebSocket tunnel (proxy/tunnel-close.ts).
 * A tunnel counts only where something reads them (its location's access
 * logs, or a WebSocket feature); every other request, and a tunnel that
 * counts nothing, has them empty. Their values change while the tunnel is
 * open: never cached.
 */

import type { VariableRegistry } from "./registry.js";
import type { VariableSource, WsTunnelFacts } from "./source.js";

type Read = (tunnel: WsTunnelFacts) => string;

const TUNNEL_VARIABLES: Record<string, Read> = {
  wsgate_messages_from_client: (t) => String(t.messagesFromClient),
  wsgate_messages_from_upstream: (t) => String(t.messagesFromUpstream),
  wsgate_bytes_from_client: (t) => String(t.bytesFromClient),
  wsgate_bytes_from_upstream: (t) => String(t.bytesFromUpstream),
  wsgate_close_code: (t) => (t.closeCode > 0 ? String(t.closeCode) : ""),
  wsgate_closed_by: (t) => t.closedBy,
  wsgate_ping_rtt: (t) => (t.pingRttMs >= 0 ? String(t.pingRttMs) : ""),
};

export function registerWsgateVariables(registry: VariableRegistry): void {
  for (const [name, read] of Object.entries(TUNNEL_VARIABLES)) {
    registry.define(name, (r: VariableSource) => (r.wsTunnel ? read(r.wsTunnel) : ""), false);
  }
}
