/**
 * A worker process (`master_process on`): started by the master with
 * child_process.fork, it loads the configuration from the texts the master
 * read, opens its logs, switches to `user` when started by root, listens on
 * the copies of the listening sockets the master hands it ("listen"
 * messages), says "ready", and accepts its connections itself. The master's
 * "quit"/"stop"/"reopen" messages do what QUIT/TERM/USR1 do (at "quit" it
 * stops accepting and finishes what it has); the worker answers those
 * signals itself too (a terminal's Ctrl-C reaches every process of the
 * group). A worker whose master is gone exits at once. An uncaught exception
 * (outside any connection, whose own guard would have closed just that
 * connection) ends the worker: the master replaces it.
 */

import type { ListenHandle } from "../http/listen-socket.js";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/model.js";
import type { FromWorker, ToWorker } from "./ipc.js";
import { onSignals, receivedLine } from "./signals.js";
import { drainConnections, openServing, reopenLogs, type Serving } from "./serving.js";
import { resolveIdentity, switchIdentity } from "./user.js";
import { isRoot } from "./startup-notices.js";
import { exitOnUncaught } from "./crash.js";
import { useSharedZones } from "../http/shared-zones.js";
import { ZoneClient } from "./zone-client.js";
import { NO_CONNECTIONS, ownFigures, useFigureGatherer } from "../http/server-figures.js";
import { FigureClient } from "./figure-client.js";
import { countProcessFigures } from "./process-metrics.js";

export function runWorker(): Promise<number> {
  process.title = "wsgate: worker process";
  return new Promise((resolveExit) => {
    let serving: Serving | undefined;
    let config: Config | undefined;
    let stopping: "graceful" | "fast" | undefined;
    const sockets = new ListenSockets();
    let accepting = false;

    const send = (message: FromWorker): boolean => {
      if (!process.connected || !process.send) return false;
      process.send(message);
      return true;
    };
    // The shared zones are the master's: limit_conn and limit_req ask it.
    const zones = new ZoneClient(send, () => serving?.errorLog);
    useSharedZones(zones);
    // So are the server's figures: stub_status asks the master, which asks every worker.
    countProcessFigures("worker");
    const figures = new FigureClient(
      send,
      () => {
        const flow = serving?.server?.flow;
        return ownFigures(flow?.connectionStats() ?? NO_CONNECTIONS, flow?.upstreams);
      },
      () => serving?.errorLog,
    );
    useFigureGatherer(figures.gather);

    const exit = (code: number): void => {
      if (serving) {
        serving.accessLog.flush();
        serving.errorLog.log("notice", "exit");
        serving.files.closeAll();
      }
      removeSignals();
      removeUncaught();
      figures.stop();
      if (process.connected) process.disconnect();
      resolveExit(code);
    };

    const stop = (how: "graceful" | "fast"): void => {
      if (stopping === "fast" || (stopping === "graceful" && how === "graceful")) return;
      stopping = how;
      if (!serving || !config) {
        exit(0);
        return;
      }
      const { server, errorLog } = serving;
      sockets.closeAll();
      // Accepting stops at once; the listeners' close resolves late (or, with native tunnels, early): not waited for.
      void server?.stopListening();
      void (async () => {
        if (how === "graceful") {
          errorLog.log("notice", "gracefully shutting down");
          if (server && server.openConnections > 0) await drainConnections(server, config.main);
          if (stopping === "fast") return;
        }
        errorLog.log("notice", "exiting");
        server?.destroyConnections();
        exit(0);
      })();
    };

    const start = async (load: Extract<ToWorker, { wsgate: "start" }>["load"]): Promise<void> => {
      try {
        config = await loadConfig({ ...load, sources: new Map(load.sources) });
        const identity =
          config.main.user && isRoot() ? resolveIdentity(config.main.user.user, config.main.user.group) : undefined;
        serving = openServing(config);
        if (identity) switchIdentity(identity);
        serving.server?.startHealthChecks();
        await serving.server?.firstLookups();
        const server = serving.server;
        if (server) {
          // Sockets closed to pause accepting (out of descriptors) are asked for again.
          server.pauseBeforeDescriptorsRunOut((listen) => send({ wsgate: "listen-again", listen: listen.text }));
          for (const listen of server.listens) await server.acceptOn(await sockets.take(listen.text), listen.text);
          accepting = true;
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        serving?.errorLog.log("emerg", message);
        send({ wsgate: "failed", message });
        // nginx's "fatal" exit code: the master does not start this worker again.
        exit(2);
        return;
      }
      send({ wsgate: "ready" });
      figures.startPushing();
    };

    // nginx's model: a worker that crashes is replaced by the master (src/process/crash.ts).
    const removeUncaught = exitOnUncaught(
      (line) => {
        if (serving) serving.errorLog.log("alert", line);
        else process.stderr.write(`wsgate: [alert] ${line}\n`);
      },
      () => serving?.accessLog.flush(),
    );

    process.on("message", (message: ToWorker, handle?: ListenHandle) => {
      switch (message.wsgate) {
        case "start":
          void start(message.load);
          break;
        case "listen":
          if (!handle) break;
          if (stopping) handle.close();
          else if (accepting && serving?.server) {
            serving.server.acceptOn(handle, message.listen).catch((err: unknown) => {
              serving?.errorLog.log("alert", err instanceof Error ? err.message : String(err));
            });
          } else sockets.give(message.listen, handle);
          break;
        case "quit":
          stop("graceful");
          break;
        case "stop":
          stop("fast");
          break;
        case "reopen":
          if (serving) reopenLogs(serving);
          break;
        case "zone-answer":
          zones.answered(message.id, message.answer);
          break;
        case "figures-ask":
          figures.tell(message.id);
          break;
        case "figures-answer":
          figures.answered(message.id, message.figures);
          break;
        case "figures-others":
          figures.others(message.connections);
          break;
      }
    });
    // The master is gone: nobody will replace or stop this worker.
    process.on("disconnect", () => {
      if (!stopping) stop("fast");
    });

    const say = (signal: NodeJS.Signals, action: string, then?: () => void) => () => {
      serving?.errorLog.log("notice", receivedLine(signal, action));
      then?.();
    };
    const removeSignals = onSignals({
      SIGTERM: say("SIGTERM", "exiting", () => stop("fast")),
      SIGINT: say("SIGINT", "exiting", () => stop("fast")),
      SIGQUIT: say("SIGQUIT", "shutting down", () => stop("graceful")),
      SIGUSR1: say("SIGUSR1", "reopening logs", () => serving && reopenLogs(serving)),
      SIGHUP: say("SIGHUP", "ignoring"),
      SIGUSR2: say("SIGUSR2", "ignoring"),
      SIGWINCH: say("SIGWINCH", "ignoring"),
    });
  });
}

/** The listening sockets the master hands this worker, each taken once its configuration is ready to accept. */
class ListenSockets {
  private readonly given = new Map<string, ListenHandle>();
  private readonly waiting = new Map<string, (handle: ListenHandle) => void>();

  give(listen: string, handle: ListenHandle): void {
    const waiter = this.waiting.get(listen);
    this.waiting.delete(listen);
    if (waiter) waiter(handle);
    else {
      this.given.get(listen)?.close();
      this.given.set(listen, handle);
    }
  }

  /** The socket of `listen`, once the master's message has come (it was sent right after the fork). */
  take(listen: string): Promise<ListenHandle> {
    const handle = this.given.get(listen);
    this.given.delete(listen);
    if (handle) return Promise.resolve(handle);
    return new Promise((resolve) => this.waiting.set(listen, resolve));
  }

  /** Stopping: sockets not taken yet are closed. */
  closeAll(): void {
    for (const handle of this.given.values()) handle.close();
    this.given.clear();
  }
}
