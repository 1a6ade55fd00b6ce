/**
 * Named loopback backends for the upstream tests: each answers with its own
 * name (body and X-Backend), can be told to answer another status, to be
 * slow, or to stop accepting, and echoes WebSocket messages prefixed with its
 * name. A small HTTP client with a chosen local address (127.0.0.x) for
 * ip_hash.
 */

import { request, createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { openWs } from "../support/sockets.js";

export interface NamedBackend {
  readonly name: string;
  readonly port: number;
  /** Status to answer with (200 by default). */
  status: number;
  /** Status for paths under /health (200 by default). */
  healthStatus: number;
  /** Health-check requests seen. */
  readonly healthChecks: number;
  /** Delay before answering (ms). */
  delayMs: number;
  /** Close the connection after each response (Connection: close). */
  closeEach: boolean;
  /** Close idle keepalive connections after this many ms (0 = never, node's own default otherwise). */
  idleCloseMs: number;
  /** Requests seen, in order (method and url). */
  readonly seen: string[];
  /** TCP connections accepted. */
  readonly connections: number;
  /** Open WebSocket connections. */
  readonly tunnels: number;
  /** Stop accepting new connections; open ones stay. */
  stopListening(): Promise<void>;
  /** Accept again on the same port. */
  listenAgain(): Promise<void>;
  /** Close every idle keepalive connection now. */
  closeIdle(): void;
  close(): Promise<void>;
}

export async function startBackend(name: string, port = 0, host = "127.0.0.1"): Promise<NamedBackend> {
  const sockets = new Set<Socket>();
  const seen: string[] = [];
  let connections = 0;
  let healthChecks = 0;
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer((req, res) => {
    if ((req.url ?? "").startsWith("/health")) {
      healthChecks++;
      res.writeHead(backend.healthStatus, { "Content-Length": "0" });
      res.end();
      return;
    }
    seen.push(`${req.method ?? ""} ${req.url ?? ""}`);
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const answer = (): void => {
        const body = `${name}${chunks.length > 0 ? ` ${Buffer.concat(chunks).toString()}` : ""}`;
        const headers: Record<string, string> = { "X-Backend": name, "Content-Length": String(body.length) };
        if (backend.closeEach) headers["Connection"] = "close";
        res.writeHead(backend.status, headers);
        res.end(body);
      };
      if (backend.delayMs > 0) setTimeout(answer, backend.delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    if (backend.idleCloseMs > 0) socket.setTimeout(backend.idleCloseMs, () => socket.destroy());
  });
  server.on("upgrade", (req, socket: Socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", (data: Buffer) => ws.send(`${name}: ${data.toString()}`));
      ws.on("error", () => undefined);
    });
  });
  const listen = (at: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(at, host, () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
  const bound = await listen(port);
  const backend: NamedBackend = {
    name,
    port: bound,
    status: 200,
    healthStatus: 200,
    get healthChecks() {
      return healthChecks;
    },
    delayMs: 0,
    closeEach: false,
    idleCloseMs: 0,
    seen,
    get connections() {
      return connections;
    },
    get tunnels() {
      return wss.clients.size;
    },
    stopListening: () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined),
    listenAgain: async () => void (await listen(bound)),
    closeIdle: () => server.closeIdleConnections(),
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      for (const socket of sockets) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  // server.close() resolves only once every connection is gone; stopListening must not wait for them.
  backend.stopListening = () =>
    new Promise<void>((resolve) => {
      server.close();
      resolve();
    });
  return backend;
}

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: IncomingHttpHeaders;
}

/** One request on a fresh connection (no agent), bounded to 5 s. */
export function fetchVia(
  port: number,
  path: string,
  options: { method?: string; body?: string; localAddress?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        agent: false,
        headers: { Connection: "close", ...options.headers },
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no reply to ${path} within 5 s`));
    }, 5000);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(options.body);
  });
}

/** A WebSocket through the proxy; resolves once open. */
export function openSocket(port: number, path = "/ws"): Promise<WebSocket> {
  return openWs(`ws://127.0.0.1:${port}${path}`);
}

/** Send a message and wait for the echo (the backend prefixes its name). */
export function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no echo within 5 s")), 5000);
    ws.once("message", (data: Buffer) => {
      clearTimeout(timer);
      resolve(data.toString());
    });
    ws.send(text);
  });
}

export function closeSocket(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 2000);
    ws.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close();
  });
}
