/**
 * The listening sockets a serving process accepts on, and the pause nginx
 * makes when descriptors run out.
 *
 * Out of file descriptors, nginx stops accepting for 500 ms
 * (ngx_event_accept(): ngx_disable_accept_events(), then accept_mutex_delay)
 * and the connections meanwhile wait in the listen backlog. libuv instead
 * answers EMFILE by accepting and closing every connection pending at that
 * moment (its reserve-descriptor trick, uv__emfile_trick()), and Node offers
 * no way to stop polling a listening socket but to close it. So a worker
 * stops before it runs out: when an accepted connection's descriptor comes
 * within DESCRIPTOR_MARGIN of its RLIMIT_NOFILE (descriptors are allocated
 * lowest first, so every one below it is in use), it closes its copies of the
 * listening sockets and asks its master for them again every ACCEPT_PAUSE_MS
 * until they come; the sockets stay open in the master and connections wait
 * in their backlog. The same pause follows an accept error of EMFILE/ENFILE,
 * which Node reports only when libuv's trick could not run (and which libuv
 * would otherwise report again in a loop).
 */

import { readFileSync } from "node:fs";
import type { Server, Socket } from "node:net";
import type { ListenConf } from "../config/model.js";
import { systemErrorText } from "../core/errors.js";
import type { ErrorLog } from "../log/error-log.js";
import type { Binding } from "./bindings.js";
import { listenOn, type ListenHandle } from "./listen-socket.js";

/** nginx's accept_mutex_delay default: how long accepting pauses. */
const ACCEPT_PAUSE_MS = 500;
/** Descriptors kept free below the limit: the upstream connections of requests already accepted need them. */
const DESCRIPTOR_MARGIN = 16;

export class ListeningSockets {
  private readonly servers = new Map<string, Server>();
  /** How a socket closed by a pause comes back: a worker asks its master, a single process binds again. */
  private reacquire: ((listen: ListenConf) => void) | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  /** An accepted descriptor from this number on pauses accepting (a worker's RLIMIT_NOFILE less the margin). */
  private ceiling = Infinity;
  private limit = 0;
  private stopped = false;

  constructor(
    private readonly bindings: readonly Binding[],
    private readonly accept: (socket: Socket, binding: Binding) => void,
    private readonly errorLog: ErrorLog,
  ) {}

  /** Listen and accept on `handle`, the bound socket of `listenText`; one not needed (or already held) is closed. */
  async acceptOn(handle: ListenHandle, listenText: string): Promise<void> {
    const binding = this.bindings.find((b) => b.listen.text === listenText);
    if (!binding || this.stopped || this.servers.has(listenText)) {
      handle.close();
      return;
    }
    const accepted = (socket: Socket): void => {
      if (this.ceiling !== Infinity && descriptorOf(socket) >= this.ceiling) this.outOfDescriptors();
      this.accept(socket, binding);
    };
    let server: Server;
    try {
      server = await listenOn(handle, binding.listen, accepted, (err) => this.acceptFailed(err));
    } catch (err) {
      handle.close();
      throw err;
    }
    if (this.stopped || this.servers.has(listenText)) {
      server.close();
      return;
    }
    this.servers.set(listenText, server);
    if (this.servers.size === this.bindings.length) {
      clearInterval(this.pauseTimer);
      this.pauseTimer = undefined;
    }
  }

  /** How sockets come back after a pause; `guard`: pause before descriptors run out (a worker). */
  reacquireWith(reacquire: (listen: ListenConf) => void, guard: boolean): void {
    this.reacquire = reacquire;
    const limit = guard ? openFileLimit() : undefined;
    if (limit === undefined || limit <= DESCRIPTOR_MARGIN * 2) return;
    this.limit = limit;
    this.ceiling = limit - DESCRIPTOR_MARGIN;
  }

  /**
   * Stop accepting for good; resolves when net.Server.close() does: once its own count of connections is zero,
   * which a native tunnel leaves at its hand-over (the shutdown waits on HttpServer.whenIdle() instead).
   */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pauseTimer);
    const servers = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private outOfDescriptors(): void {
    if (this.pauseTimer !== undefined) return;
    this.errorLog.log(
      "crit",
      `${this.limit} file descriptors are not enough, accepting again in ${ACCEPT_PAUSE_MS} ms`,
    );
    this.pause();
  }

  /** A failed accept(), logged as nginx's ngx_event_accept() logs it: crit when out of descriptors, alert otherwise. */
  private acceptFailed(err: NodeJS.ErrnoException): void {
    const exhausted = err.code === "EMFILE" || err.code === "ENFILE";
    this.errorLog.log(exhausted ? "crit" : "alert", `accept4() failed (${systemErrorText(err)})`);
    if (exhausted) this.pause();
  }

  /** The listening copies close (connections wait in the backlog) and are asked for again until they are back. */
  private pause(): void {
    if (this.pauseTimer !== undefined || !this.reacquire || this.stopped) return;
    for (const server of this.servers.values()) server.close();
    this.servers.clear();
    this.pauseTimer = setInterval(() => {
      for (const { listen } of this.bindings) if (!this.servers.has(listen.text)) this.reacquire?.(listen);
    }, ACCEPT_PAUSE_MS);
  }
}

/** The soft RLIMIT_NOFILE of this process, from /proc/self/limits; undefined where unknown or unlimited. */
function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "latin1"));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The descriptor of an accepted socket (libuv's, on Unix), or -1. */
function descriptorOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" ? fd : -1;
}
