/**
 * wsgate_health_check: active checks of every peer of a group, beyond
 * nginx's free edition. Every `interval` each peer (those written `down`
 * excepted) gets one check on a fresh connection: a GET of `uri` that must
 * answer 2xx or 3xx, or (type=websocket) a WebSocket handshake that must
 * answer 101; anything else, a connection error or no status line within
 * `timeout` fails. `fails` failures in a row mark the peer down (the
 * balancers skip it: no new connections; open requests and tunnels go on),
 * `passes` successes in a row bring it back. Each change is logged: down at
 * warn, up at notice.
 */

import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { HealthCheckConf } from "../config/model.js";
import { systemErrorText } from "../core/errors.js";
import type { ErrorLog } from "../log/error-log.js";
import type { Peer } from "./peer.js";

export interface PeerHealth {
  passes: number;
  fails: number;
  checking: boolean;
  /** The last check's result, for the status output. */
  last: string;
}

export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly sockets = new Set<Socket>();
  readonly health = new Map<Peer, PeerHealth>();

  constructor(
    private readonly groupName: string,
    private peers: readonly Peer[],
    readonly conf: HealthCheckConf,
    private readonly log: ErrorLog,
  ) {
    for (const peer of peers) this.health.set(peer, { passes: 0, fails: 0, checking: false, last: "" });
  }

  /** The group's peers changed (`server … resolve`): new ones start unchecked, gone ones are forgotten. */
  setPeers(peers: readonly Peer[]): void {
    const health = new Map<Peer, PeerHealth>();
    for (const peer of peers)
      health.set(peer, this.health.get(peer) ?? { passes: 0, fails: 0, checking: false, last: "" });
    this.health.clear();
    for (const [peer, state] of health) this.health.set(peer, state);
    this.peers = peers;
  }

  start(): void {
    if (this.timer) return;
    this.runAll();
    this.timer = setInterval(() => this.runAll(), this.conf.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private runAll(): void {
    for (const peer of this.peers) {
      const health = this.health.get(peer)!;
      if (peer.down || health.checking) continue;
      health.checking = true;
      void this.check(peer).then((failure) => {
        health.checking = false;
        if (this.timer === undefined || !this.health.has(peer)) return;
        this.record(peer, health, failure);
      });
    }
  }

  private record(peer: Peer, health: PeerHealth, failure: string | undefined): void {
    health.last = failure ?? "ok";
    if (failure === undefined) {
      health.fails = 0;
      health.passes++;
      if (peer.checkDown && health.passes >= this.conf.passes) {
        peer.checkDown = false;
        this.log.log(
          "notice",
          `health check: upstream server ${peer.address.text} in upstream "${this.groupName}" is up after ${health.passes} passed checks`,
        );
      }
      return;
    }
    health.passes = 0;
    health.fails++;
    if (!peer.checkDown && health.fails >= this.conf.fails) {
      peer.checkDown = true;
      this.log.log(
        "warn",
        `health check: upstream server ${peer.address.text} in upstream "${this.groupName}" is down after ${health.fails} failed checks (${failure})`,
      );
    }
  }

  /** One check; resolves with undefined when it passed, else with why it failed. */
  private check(peer: Peer): Promise<string | undefined> {
    return new Promise((resolve) => {
      const address = peer.address;
      const socket =
        address.kind === "unix" ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
      this.sockets.add(socket);
      let settled = false;
      const finish = (failure: string | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.sockets.delete(socket);
        socket.destroy();
        resolve(failure);
      };
      const timer = setTimeout(() => finish("timed out"), this.conf.timeoutMs);
      let connected = false;
      socket.on("error", (err) => finish(`${connected ? "recv" : "connect"}() failed (${systemErrorText(err)})`));
      socket.once("connect", () => {
        connected = true;
        socket.write(this.requestFor(address.text), "latin1");
      });
      let head = "";
      socket.on("data", (chunk: Buffer) => {
        head += chunk.toString("latin1");
        const eol = head.indexOf("\r\n");
        if (eol === -1) {
          if (head.length > 1024) finish("invalid status line");
          return;
        }
        const match = /^HTTP\/1\.[01] (\d{3})/.exec(head.slice(0, eol));
        if (!match) {
          finish("invalid status line");
          return;
        }
        const status = Number(match[1]);
        const passed = this.conf.type === "websocket" ? status === 101 : status >= 200 && status < 400;
        finish(passed ? undefined : `status ${status}`);
      });
      socket.on("end", () => finish("connection closed before a status line"));
    });
  }

  private requestFor(host: string): string {
    const lines = [`GET ${this.conf.uri} HTTP/1.1`, `Host: ${host}`, "User-Agent: wsgate-health-check"];
    if (this.conf.type === "websocket") {
      lines.push(
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
        "Sec-WebSocket-Version: 13",
      );
    } else lines.push("Connection: close");
    return `${lines.join("\r\n")}\r\n\r\n`;
  }
}
