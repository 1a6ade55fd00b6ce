/**
 * What a serving process holds — its log files, the http server of its
 * configuration — and how it lets connections go at shutdown. Shared by the
 * single process (`master_process off`) and the workers.
 */

import type { Config, LocConf, LocationConf, MainConf } from "../config/model.js";
import { AccessLog } from "../log/access-log.js";
import { ErrorLog, ErrorLogs } from "../log/error-log.js";
import { LogFiles } from "../log/files.js";
import { HttpServer } from "../http/server.js";
import { contentHandlers } from "./content-modules.js";
import { closesWithFrames, recordTunnelMain } from "../proxy/tunnel-options.js";
import { CLOSE_WAIT_MS, framedTunnels, goAwaySpread } from "../proxy/tunnel-close.js";
import { whenNoTunnels } from "../proxy/tunnel.js";
import { endFeeds } from "../static/dashboard-feed.js";
import { nativeTunnelLoadFailure } from "../proxy/native-tunnel.js";

export interface Serving {
  readonly files: LogFiles;
  readonly errorLog: ErrorLog;
  readonly accessLog: AccessLog;
  readonly server: HttpServer | undefined;
}

/** Open every log of `config` and build its http server (not listening); throws nginx's open() message. */
export function openServing(config: Config): Serving {
  const files = new LogFiles();
  try {
    const errorLog = new ErrorLog(config.main.errorLogs, files);
    const nativeFailure = nativeTunnelLoadFailure();
    if (nativeFailure !== undefined) errorLog.log("warn", nativeFailure);
    const errorLogs = new ErrorLogs(errorLog, files);
    const accessLog = new AccessLog(files);
    let server: HttpServer | undefined;
    if (config.http) {
      for (const loc of everyLocConf(config)) {
        accessLog.openAll(loc.accessLogs === "off" ? [] : loc.accessLogs);
        errorLogs.forLocation(loc);
      }
      server = new HttpServer(config.http, errorLogs, accessLog, contentHandlers());
      server.limitConnections(config.main.workerConnections);
    }
    recordTunnelMain(config);
    return { files, errorLog, accessLog, server };
  } catch (err) {
    files.closeAll();
    throw err;
  }
}

/** USR1: flush buffered access-log lines, reopen every file by its name. */
export function reopenLogs(serving: Serving): void {
  serving.accessLog.flush();
  serving.errorLog.log("notice", "reopening logs");
  for (const failure of serving.files.reopen()) serving.errorLog.log("alert", failure.error);
}

/**
 * A graceful shutdown once the process accepts no more: idle keep-alive
 * connections close now, requests in flight finish (the dashboard's live
 * feeds end at once), tunnels stay until they close — or, with `wsgate_shutdown_drain`, are closed with 1001 frames spread
 * over the drain time. When `worker_shutdown_timeout` expires what is left is
 * cut (nginx), or, with close frames, sent 1001 and cut shortly after.
 */
export async function drainConnections(server: HttpServer, main: MainConf): Promise<void> {
  server.closeIdleConnections();
  // The dashboard's live feeds are responses that never end by themselves: they end now.
  endFeeds();
  let finishDrain: (() => void) | undefined;
  if (main.wsgateShutdownDrainMs !== undefined) finishDrain = goAwaySpread(framedTunnels(), main.wsgateShutdownDrainMs);
  const limit = main.workerShutdownTimeoutMs;
  if (limit === undefined) {
    await server.whenIdle();
    return;
  }
  if (await idleWithin(server, limit)) return;
  if (closesWithFrames(main)) {
    finishDrain?.();
    goAwaySpread(framedTunnels(), 0);
    if (await idleWithin(server, CLOSE_WAIT_MS + 500)) return;
  }
  server.destroyConnections();
  // nginx's shutdown timer finalizes what it cuts, so each request is logged: a cut tunnel writes its
  // line once both its sockets have closed (the upstream's after the client's), before the exit.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([whenNoTunnels(), new Promise((resolve) => (timer = setTimeout(resolve, CUT_LOG_WAIT_MS)))]);
  clearTimeout(timer);
}

/** How long a shutdown waits, after cutting what was left, for those connections' log lines. */
const CUT_LOG_WAIT_MS = 1000;

/** Whether every connection closed within `ms`. */
async function idleWithin(server: HttpServer, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const idle = await Promise.race([server.whenIdle().then(() => true), limit]);
  clearTimeout(timer);
  return idle;
}

function* everyLocConf(config: Config): Generator<LocConf> {
  const walk = function* (locations: readonly LocationConf[]): Generator<LocConf> {
    for (const location of locations) {
      yield location.loc;
      yield* walk(location.locations);
    }
  };
  if (config.http) yield config.http.loc;
  for (const server of config.http?.servers ?? []) {
    yield server.loc;
    yield* walk(server.locations);
  }
}
