/**
 * The benchmark's backend, run as its own process.
 *
 *   node dist/bench/echo-backend.js [PORT] [ws|raw]   — prints "ready PORT" once listening (PORT 0: any free port)
 *
 * `ws` (the default): the `ws` package's WebSocketServer, no compression, that
 * echoes every message as it came (binary as binary, text as text), on an
 * HTTP server that answers any plain request with a small 200 (for the `http`
 * phase, through the seed's configuration).
 *
 * `raw`: answers an upgrade with a 101 and then reflects every byte as it is,
 * without parsing frames — the cheapest possible peer, for checking whether
 * the `ws` backend is what limits a figure. The load generator must then be
 * told `backend=raw` (the echo of a masked frame is the masked frame).
 */

import { createHash } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { WebSocketServer } from "ws";

export const BODY = "hello from the bench backend\n";
const HTTP_RESPONSE = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n` + BODY;

function answerHttp(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": BODY.length });
  res.end(BODY);
}

export function startWs(port: number): Server {
  const server = createHttpServer(answerHttp);
  server.keepAliveTimeout = 120_000;
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
  wss.on("connection", (socket) => {
    socket.on("error", () => socket.terminate());
    socket.on("message", (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
  });
  return server.listen(port, "127.0.0.1");
}

export function startRaw(port: number): Server {
  return createTcpServer((socket: Socket) => {
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
          socket.write(HTTP_RESPONSE);
          if (/\r\nconnection: *close/i.test(request)) socket.end();
          continue;
        }
        const accept = createHash("sha1")
          .update(key.trim() + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
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
  }).listen(port, "127.0.0.1");
}

if (process.argv[1]?.endsWith("echo-backend.js")) {
  const port = Number(process.argv[2] ?? 0);
  const mode = process.argv[3] ?? "ws";
  if (mode !== "ws" && mode !== "raw") {
    process.stderr.write(`echo-backend: unknown mode ${mode} (ws, raw)\n`);
    process.exit(2);
  }
  const server = mode === "raw" ? startRaw(port) : startWs(port);
  server.on("listening", () => process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`));
  server.on("error", (err) => {
    process.stderr.write(`echo-backend: ${err.message}\n`);
    process.exit(1);
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
}
