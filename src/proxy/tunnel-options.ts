/**
 * What a tunnel does, decided per location: its timers and whether it follows
 * WebSocket frames. One TunnelOptions value is built the first time a
 * location opens a tunnel and shared by every tunnel of that location (a
 * tunnel holds one reference, not a copy), so that options cost no memory per
 * idle tunnel and a per-location WebSocket feature has one place to live.
 *
 * The timers are nginx's in ngx_http_upstream_process_upgraded():
 * proxy_read_timeout while the tunnel is idle, send_timeout while the client
 * does not take what is written to it, proxy_send_timeout while the upstream
 * does not.
 *
 * The location's WebSocket features (config/modules/websocket.ts: pings,
 * message size and rate limits) and the $wsgate_ variables its access logs
 * print need message boundaries: any of them makes `followFrames` true for
 * the location (ws-flow.ts), as does a `wsgate_metrics` or
 * `wsgate_dashboard` location anywhere in the configuration, for every
 * WebSocket tunnel: the metrics count messages (ws-metrics.ts). A location with none keeps the plain pipe. The
 * features are named in the options only when on, so the options of the
 * usual location stay as they were.
 */

import type { Config, LocConf, LocationConf, MainConf, ServerConf } from "../config/model.js";
import type { WsMessageRate, WsPing } from "../config/modules/websocket.js";

export interface TunnelOptions {
  /** proxy_read_timeout: nothing moved either way for this long ends the tunnel; 0: no limit. */
  readonly idleTimeoutMs: number;
  /** send_timeout: the client took nothing of what waits for it for this long; 0: no limit. */
  readonly clientSendTimeoutMs: number;
  /** proxy_send_timeout: the upstream took nothing of what waits for it for this long; 0: no limit. */
  readonly upstreamSendTimeoutMs: number;
  /** A WebSocket tunnel follows frame and message boundaries from its first byte. */
  readonly followFrames: boolean;
  /** reset_timedout_connection: the client's send_timeout resets its connection (RST), as nginx's c->timedout. */
  readonly resetTimedout?: boolean;
  /** wsgate_ping: both sides are pinged; the idle limit does not end the tunnel. */
  readonly ping?: WsPing;
  /** wsgate_max_message, payload bytes. */
  readonly maxMessage?: number;
  /** wsgate_message_rate, for the client's messages. */
  readonly messageRate?: WsMessageRate;
  /** RFC 6455's rules are checked (1002): with any of the three above. */
  readonly checks?: boolean;
}

/** The variables a tunnel counts for. */
const TUNNEL_VARIABLES = new Set([
  "wsgate_messages_from_client",
  "wsgate_messages_from_upstream",
  "wsgate_bytes_from_client",
  "wsgate_bytes_from_upstream",
  "wsgate_close_code",
  "wsgate_closed_by",
  "wsgate_ping_rtt",
]);

/** What tunnels read from the main level. */
export interface TunnelMainConf {
  /** Tunnels are ended with close frames at shutdown (`wsgate_close_frames`, `wsgate_shutdown_drain`). */
  readonly closeFrames: boolean;
  /** A `wsgate_metrics` or `wsgate_dashboard` location exists: every WebSocket tunnel counts its messages. */
  readonly countsMessages?: boolean;
}

export const NO_TUNNEL_MAIN: TunnelMainConf = { closeFrames: false };

/** Whether the process ends tunnels with close frames at shutdown: they must follow frames from their start. */
export function closesWithFrames(main: MainConf): boolean {
  return main.wsgateCloseFrames || main.wsgateShutdownDrainMs !== undefined;
}

const byLocation = new WeakMap<LocConf, TunnelOptions>();

/** The options of the tunnels of `loc`, built once per location. */
export function tunnelOptionsFor(loc: LocConf, main: TunnelMainConf): TunnelOptions {
  let options = byLocation.get(loc);
  if (options === undefined) {
    const features = websocketFeatures(loc);
    options = {
      idleTimeoutMs: loc.proxyReadTimeoutMs,
      clientSendTimeoutMs: loc.sendTimeoutMs,
      upstreamSendTimeoutMs: loc.proxySendTimeoutMs,
      followFrames:
        main.closeFrames || main.countsMessages === true || features !== undefined || logsTunnelVariables(loc),
      // Named only when on, so the options of the usual location stay as they were.
      ...(loc.resetTimedoutConnection ? { resetTimedout: true } : {}),
      ...features,
    };
    byLocation.set(loc, options);
  }
  return options;
}

/**
 * The main level of each server's configuration, recorded when a process
 * opens the configuration, so that a request, which knows its server, finds
 * its tunnel's main-level settings (keyed by configuration objects: a
 * reloaded configuration brings its own).
 */
const mainByServer = new WeakMap<ServerConf, TunnelMainConf>();

export function recordTunnelMain(config: Config): void {
  const servers = config.http?.servers ?? [];
  const main: TunnelMainConf = {
    closeFrames: closesWithFrames(config.main),
    ...(servers.some((server) => hasMetrics(server.locations)) ? { countsMessages: true } : {}),
  };
  for (const server of servers) mainByServer.set(server, main);
}

/** Whether a location among these (nested ones included) shows the metrics: wsgate_metrics or wsgate_dashboard. */
function hasMetrics(locations: readonly LocationConf[]): boolean {
  return locations.some(
    (location) => location.metrics === true || location.dashboard === true || hasMetrics(location.locations),
  );
}

/** The main-level tunnel settings of `server`'s configuration (none recorded: no close frames). */
export function tunnelMainFor(server: ServerConf): TunnelMainConf {
  return mainByServer.get(server) ?? NO_TUNNEL_MAIN;
}

type WebSocketFeatures = Pick<TunnelOptions, "ping" | "maxMessage" | "messageRate" | "checks">;

/** The location's wsgate_ message features, undefined when none is on. */
function websocketFeatures(loc: LocConf): WebSocketFeatures | undefined {
  const { wsgatePing, wsgateMaxMessage, wsgateMessageRate } = loc;
  if (wsgatePing === false && wsgateMaxMessage === 0 && wsgateMessageRate === false) return undefined;
  return {
    checks: true,
    ...(wsgatePing !== false ? { ping: wsgatePing } : {}),
    ...(wsgateMaxMessage > 0 ? { maxMessage: wsgateMaxMessage } : {}),
    ...(wsgateMessageRate !== false ? { messageRate: wsgateMessageRate } : {}),
  };
}

/** Whether an access log of the location prints a $wsgate_ tunnel variable. */
function logsTunnelVariables(loc: LocConf): boolean {
  if (loc.accessLogs === "off") return false;
  return loc.accessLogs.some((log) => log.format.variableNames().some((name) => TUNNEL_VARIABLES.has(name)));
}
