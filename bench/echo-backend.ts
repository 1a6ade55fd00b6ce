/**
 * The benchmark's backend. `ws` mode: a `ws` echo server (binary as binary,
 * no compression) that also answers a plain GET with a small 200. `raw` mode
 * (the default for the benchmark): answers the upgrade with a 101 and then
 * reflects every byte as it is — the cheapest possible peer, so that the
 * proxy between, not the backend, is what limits the figures; the load
 * generator then counts its own (masked) frames coming back.
 *
 *   node dist/bench/echo-backend.js PORT [ws|raw]   — prints "ready" when listening
 */

import { createHash } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { WebSocketServer } from "ws";

const port = Number(process.argv[2] ?? 0);
const mode = process.argv[3] ?? "ws";
const body = "hello from the backend\n";
const ready = (): boolean => process.stdout.write("ready\n");

if (mode === "raw") startRaw();
else startWs();

function startWs(): void {
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 120_000;
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  wss.on("connection", (socket) => {
    socket.on("error", () => socket.terminate());
    socket.on("message", (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
  });
  server.listen(port, "127.0.0.1", ready);
}

function startRaw(): void {
  const response = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  createTcpServer((socket: Socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => socket.destroy());
    let head = "";
    const onData = (chunk: Buffer): void => {
      head += chunk.toString("latin1");
      for (;;) {
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        const request = head.slice(0, end);
        head = head.slice(end + 4);
        const key = /\r\nsec-websocket-key: *([^\r]+)/i.exec(request)?.[1];
        if (!key) {
          socket.write(response);
          continue;
        }
        const accept = createHash("sha1")
          .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
          .digest("base64");
        socket.off("data", onData);
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        if (head) socket.write(Buffer.from(head, "latin1"));
        socket.pipe(socket);
        return;
      }
    };
    socket.on("data", onData);
  }).listen(port, "127.0.0.1", ready);
}
