/**
 * The WebSocket tunnels' metrics: how many are open, how they ended (the
 * code of the first close frame and who sent it, as $wsgate_close_code and
 * $wsgate_closed_by), how long they lived and how long their handshake took,
 * and the messages and payload bytes each way.
 *
 * Messages and bytes are exact: a tunnel that follows frames (ws-flow.ts)
 * counts them as they pass, on its own flows; this module adds the counts
 * of the open tunnels to those of the tunnels already closed when a snapshot
 * is taken, so the frame path pays nothing for the metrics. Every WebSocket
 * tunnel follows frames where the configuration has a `wsgate_metrics`
 * location (tunnel-options.ts).
 */

import { metrics, type Series } from "../core/metrics.js";
import type { WsTunnelFacts } from "../vars/source.js";
import { openFramedTunnels } from "./tunnel-close.js";
import type { TunnelEnd } from "./tunnel.js";

const open = metrics
  .family({ name: "wsgate_websocket_connections", help: "WebSocket tunnels open now.", type: "gauge" })
  .series();

const closes = metrics.family({
  name: "wsgate_websocket_closes_total",
  help: 'Closed WebSocket tunnels by the code of the first close frame ("none" without one) and who closed.',
  type: "counter",
  labels: ["code", "by"],
});

const duration = metrics
  .family({
    name: "wsgate_websocket_duration_seconds",
    help: "How long WebSocket tunnels stayed open, from the handshake to their close.",
    type: "histogram",
    buckets: [0.1, 1, 10, 60, 300, 900, 1800, 3600, 14400, 43200, 86400],
  })
  .series();

const handshake = metrics
  .family({
    name: "wsgate_websocket_handshake_seconds",
    help: "How long WebSocket handshakes took, from the request's first byte to the 101 sent to the client.",
    type: "histogram",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  })
  .series();

const messages = metrics.family({
  name: "wsgate_websocket_messages_total",
  help: "WebSocket data messages carried, by where they came from.",
  type: "counter",
  labels: ["direction"],
});
const bytes = metrics.family({
  name: "wsgate_websocket_bytes_total",
  help: "Payload bytes of WebSocket data messages carried, by where they came from.",
  type: "counter",
  labels: ["direction"],
});
const messagesFromClient = messages.series("from_client");
const messagesFromUpstream = messages.series("from_upstream");
const bytesFromClient = bytes.series("from_client");
const bytesFromUpstream = bytes.series("from_upstream");

/** What the closed tunnels carried. */
const closed = { messagesFromClient: 0, messagesFromUpstream: 0, bytesFromClient: 0, bytesFromUpstream: 0 };

metrics.onCollect(() => {
  let { messagesFromClient: mc, messagesFromUpstream: mu, bytesFromClient: bc, bytesFromUpstream: bu } = closed;
  for (const tunnel of openFramedTunnels()) {
    mc += tunnel.messagesFromClient;
    mu += tunnel.messagesFromUpstream;
    bc += tunnel.bytesFromClient;
    bu += tunnel.bytesFromUpstream;
  }
  messagesFromClient.value = mc;
  messagesFromUpstream.value = mu;
  bytesFromClient.value = bc;
  bytesFromUpstream.value = bu;
});

/** The closes' series by "code by", made the first time. */
const closeSeries = new Map<string, Series>();

/** A tunnel starts: its handshake took `handshakeMs`. */
export function tunnelOpened(handshakeMs: number): void {
  open.value++;
  handshake.observe(Math.max(0, handshakeMs) / 1000);
}

/** A tunnel ended after `lifeMs`: `facts` when it followed frames (its code, who closed, its counts). */
export function tunnelClosed(how: TunnelEnd, lifeMs: number, facts: WsTunnelFacts | undefined): void {
  open.value--;
  duration.observe(Math.max(0, lifeMs) / 1000);
  const code = facts && facts.closeCode > 0 ? String(facts.closeCode) : "none";
  const by = facts && facts.closedBy !== "" ? facts.closedBy : closedBy(how);
  const key = `${code} ${by}`;
  let series = closeSeries.get(key);
  if (series === undefined) {
    series = closes.series(code, by);
    closeSeries.set(key, series);
  }
  series.value++;
  if (facts) {
    closed.messagesFromClient += facts.messagesFromClient;
    closed.messagesFromUpstream += facts.messagesFromUpstream;
    closed.bytesFromClient += facts.bytesFromClient;
    closed.bytesFromUpstream += facts.bytesFromUpstream;
  }
}

/** $wsgate_closed_by's words for a tunnel that did not follow frames: the side that ended it, or wsgate's timer. */
function closedBy(how: TunnelEnd): string {
  if (how.startsWith("client ") && how !== "client timed out") return "client";
  if (how.startsWith("upstream ") && !how.includes("timed out")) return "upstream";
  return "wsgate";
}
