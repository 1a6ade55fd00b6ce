/**
 * The metrics tests' world: a `ws` backend that answers each message with a
 * fixed reply and can close a tunnel with a code of its own, wsgate in front
 * of it (a named upstream, a `wsgate_metrics` location, two plain answers),
 * and WebSocket clients. Every wait is bounded.
 */

import { createServer, type Server } from "node:http";
import { WebSocketServer, WebSocket } from "ws";
import { freePort, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { openWs } from "../support/sockets.js";
import { until, withTimeout } from "../support/wait.js";

/** What the backend answers to every message (7 bytes). */
export const REPLY = "world!!";

export interface MetricsBackend {
  readonly port: number;
  /** The backend's side of each tunnel, in the order they opened. */
  readonly peers: WebSocket[];
  close(): Promise<void>;
}

export async function metricsBackend(): Promise<MetricsBackend> {
  const http: Server = createServer((_req, res) => res.end("backend\n"));
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const peers: WebSocket[] = [];
  wss.on("connection", (ws) => {
    peers.push(ws);
    ws.on("error", () => undefined);
    ws.on("message", () => ws.send(REPLY));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve));
  return {
    port,
    peers,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await withTimeout(new Promise<void>((resolve) => http.close(() => resolve())), 3000, "the backend's close");
    },
  };
}

/**
 * nginx.conf: `main` (master_process off, worker_processes 1 …), the named upstream `back`, `/metrics`, and
 * `/dead` to the upstream `dead` of ports nothing listens on (`dead`, when given).
 */
export function metricsConf(port: number, backend: number, main: string, dead: readonly number[] = []): string {
  const deadServers = dead.map((p) => `server 127.0.0.1:${p};`).join(" ");
  return `pid logs/nginx.pid;
error_log logs/error.log info;
${main}
events {}
http {
  access_log logs/access.log;
  upstream back { server 127.0.0.1:${backend}; }
  ${dead.length > 0 ? `upstream dead { ${deadServers} }` : ""}
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://back;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
    location = /metrics { wsgate_metrics; }
    location = /plain { return 200 "plain\\n"; }
    location = /nope { return 404; }
    ${dead.length > 0 ? "location = /dead { proxy_pass http://dead; }" : ""}
  }
}
`;
}

export async function startMetricsWsgate(
  backend: number,
  main: string,
  dead: readonly number[] = [],
): Promise<{ wsgate: WsgateProcess; port: number }> {
  const port = await freePort();
  const wsgate = await startWsgate({ conf: metricsConf(port, backend, main, dead) });
  return { wsgate, port };
}

/** GET `path`: status, Content-Type and body. */
export async function get(
  port: number,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

/** A client that sends `count` messages of `text` and waits for as many replies. */
export async function talk(port: number, count: number, text: string): Promise<WebSocket> {
  const ws = await openWs(`ws://127.0.0.1:${port}/chat`);
  ws.on("error", () => undefined);
  let replies = 0;
  ws.on("message", () => replies++);
  for (let i = 0; i < count; i++) ws.send(text);
  await until(() => replies >= count, 5000, `${count} replies`);
  return ws;
}

/** Resolves when the client's socket is closed, within 5 s. */
export function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return withTimeout(new Promise<void>((resolve) => ws.once("close", () => resolve())), 5000, "the tunnel's close");
}
