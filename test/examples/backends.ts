/**
 * Backends for the example's differential test: Node HTTP servers that
 * record every request (head rebuilt from the raw header lines, in order and
 * case as received, and the body) and answer with what they saw; on a
 * WebSocket upgrade the same server records the handshake and echoes each
 * message, prefixed with its own name, through `ws`. `/missing…` answers 404;
 * `/crash…` closes the connection without an answer.
 */

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer } from "ws";

export interface Received {
  readonly backend: string;
  readonly head: string;
  readonly body: string;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The request head as it came: request line and header lines, raw names and values. */
function headOf(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  return head;
}

/** Start one backend named `name`; everything it receives is pushed onto `log`. */
export async function startBackend(name: string, log: Received[]): Promise<Backend> {
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("latin1");
      log.push({ backend: name, head: headOf(req), body });
      // /crash: the backend dies mid-request (the proxy's 502, after trying the next backend).
      if (req.url?.startsWith("/crash")) {
        req.socket.destroy();
        return;
      }
      const answer = JSON.stringify({ backend: name, method: req.method, url: req.url, body }) + "\n";
      res.sendDate = false;
      res.writeHead(req.url?.startsWith("/missing") ? 404 : 200, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(answer),
        "X-Backend": name,
      });
      res.end(answer);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    log.push({ backend: name, head: headOf(req), body: "" });
    socket.on("error", () => socket.destroy());
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("message", (data, isBinary) => ws.send(isBinary ? data : `${name}: ${String(data)}`, { binary: isBinary }));
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no port");
  return {
    name,
    port: address.port,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      wss.close();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
