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
 * Per-location WebSocket features to come (pings, message size limits,
 * message counters) are added here as fields; one that needs message
 * boundaries makes `followFrames` true for the location (ws-frames.ts).
 */

import type { Config, LocConf, MainConf, ServerConf } from "../config/model.js";

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
}

/** What tunnels read from the main level. */
export interface TunnelMainConf {
  /** Tunnels are ended with close frames at shutdown (`wsgate_close_frames`, `wsgate_shutdown_drain`). */
  readonly closeFrames: boolean;
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
    options = {
      idleTimeoutMs: loc.proxyReadTimeoutMs,
      clientSendTimeoutMs: loc.sendTimeoutMs,
      upstreamSendTimeoutMs: loc.proxySendTimeoutMs,
      followFrames: main.closeFrames,
      // Named only when on, so the options of the usual location stay as they were.
      ...(loc.resetTimedoutConnection ? { resetTimedout: true } : {}),
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
  const main: TunnelMainConf = { closeFrames: closesWithFrames(config.main) };
  for (const server of config.http?.servers ?? []) mainByServer.set(server, main);
}

/** The main-level tunnel settings of `server`'s configuration (none recorded: no close frames). */
export function tunnelMainFor(server: ServerConf): TunnelMainConf {
  return mainByServer.get(server) ?? NO_TUNNEL_MAIN;
}
