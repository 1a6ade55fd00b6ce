/**
 * The seed's backend: a `ws` server that answers every message with
 * "Server received from client: <message>".
 *   node dist/src/examples/echo-server.js [port] [host]
 */

import { WebSocketServer, type WebSocket } from "ws";
import { fileURLToPath } from "node:url";

export function startEchoServer(port = 8010, host = "127.0.0.1"): Promise<WebSocketServer> {
  return new Promise((resolve, reject) => {
    const server = new WebSocketServer({ port, host });
    server.once("error", reject);
    server.once("listening", () => {
      console.log("Server started");
      resolve(server);
    });
    server.on("connection", (socket: WebSocket) => {
      socket.on("error", () => socket.terminate());
      // As the seed's server.js: every message, text or binary, is answered as text.
      socket.on("message", (data) => {
        const message = Buffer.isBuffer(data) ? data.toString() : Buffer.concat(data as Buffer[]).toString();
        console.log(`Received from client: ${message}`);
        socket.send(`Server received from client: ${message}`);
      });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.argv[2] ?? 8010);
  startEchoServer(port, process.argv[3] ?? "127.0.0.1").catch((err: Error) => {
    console.error(`echo server: ${err.message}`);
    process.exit(1);
  });
}
