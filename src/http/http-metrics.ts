/**
 * The request flow's metrics, counted where every request ends (its log
 * step): requests by the status they were logged with, how long they took,
 * and the handshakes of requests that asked to upgrade. A series is resolved
 * once per status code and kept in an array, so counting a request is an
 * index and an addition.
 *
 * A tunnel is counted as a request when it ends (as nginx logs it then);
 * its length is not a request's duration (the tunnel's own histogram has it).
 * Its handshake was counted when the client got its 101 (or, over HTTP/2,
 * its 200: RFC 8441), by the proxy (countUpgrade); a request that asked to
 * upgrade and was refused (4xx, 5xx) is counted here, at its end.
 */

import { metrics, type Series } from "../core/metrics.js";

/** Seconds, from a quick static answer to a slow upstream. */
export const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const requests = metrics.family({
  name: "wsgate_http_requests_total",
  help: "HTTP requests by the status they were logged with (a tunnel counts at its end).",
  type: "counter",
  labels: ["status"],
});

const duration = metrics
  .family({
    name: "wsgate_http_request_duration_seconds",
    help: "How long HTTP requests took, from their first byte to their log line (tunnels left out).",
    type: "histogram",
    buckets: REQUEST_BUCKETS,
  })
  .series();

const upgrades = metrics.family({
  name: "wsgate_websocket_upgrades_total",
  help: "Requests that asked to upgrade, by the status the client got (101, 200 over HTTP/2, or a refusal).",
  type: "counter",
  labels: ["status"],
});

const requestsByStatus: Array<Series | undefined> = [];
const upgradesByStatus: Array<Series | undefined> = [];

function byStatus(cache: Array<Series | undefined>, family: typeof requests, status: number): Series {
  return (cache[status] ??= family.series(String(status)));
}

/** A request is logged; `tunnel`: it was an upgraded connection, ending now. */
export function countRequest(status: number, startMs: number, upgradeAsked: boolean, tunnel: boolean): void {
  byStatus(requestsByStatus, requests, status).value++;
  if (tunnel) return;
  duration.observe(Math.max(0, Date.now() - startMs) / 1000);
  if (upgradeAsked && status >= 400) byStatus(upgradesByStatus, upgrades, status).value++;
}

/** A handshake answered (101, or 200 over HTTP/2): the tunnel starts. */
export function countUpgrade(status: number): void {
  byStatus(upgradesByStatus, upgrades, status).value++;
}
