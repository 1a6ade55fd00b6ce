/**
 * One Socket.IO server of the example: a chat-like namespace "/chat" whose
 * rooms are shared with the other instances through @socket.io/redis-adapter
 * (Redis pub/sub), so that a message emitted to a room on one instance
 * reaches the room's members on every instance. Everything it sends names
 * its instance, so a client (or a test) can see which server it landed on
 * and which server a broadcast came from.
 *
 *   node dist/examples/socketio/server.js --port 3001 --name a --redis redis://127.0.0.1:6379
 *
 * Prints "listening NAME PORT" on stdout once it accepts connections; stops on SIGINT/SIGTERM.
 */

import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

export interface SocketIoServerOptions {
  readonly port: number;
  /** The instance's name, in everything it sends. */
  readonly name: string;
  readonly redisUrl: string;
  readonly host?: string;
}

/** What the server emits as "message" to a room. */
export interface ChatMessage {
  readonly room: string;
  readonly text: string;
  /** The instance the sender is connected to. */
  readonly instance: string;
}

export interface RunningSocketIoServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Start one instance; resolves once it listens and its Redis clients are connected. */
export async function startSocketIoServer(options: SocketIoServerOptions): Promise<RunningSocketIoServer> {
  const pubClient = createClient({ url: options.redisUrl });
  const subClient = pubClient.duplicate();
  // A Redis that goes away is reported, not thrown: node-redis reconnects by itself.
  pubClient.on("error", (error: Error) => console.error(`${options.name}: redis pub: ${error.message}`));
  subClient.on("error", (error: Error) => console.error(`${options.name}: redis sub: ${error.message}`));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const http = createServer((_request, response) => {
    response.writeHead(404, { "content-type": "text/plain" });
    response.end(`not found (Socket.IO instance ${options.name})\n`);
  });
  const io = new Server(http, { adapter: createAdapter(pubClient, subClient) });
  const chat = io.of("/chat");
  chat.on("connection", (socket) => {
    socket.emit("welcome", { instance: options.name, id: socket.id });
    socket.on("join", (room: unknown, ack: unknown) => {
      if (typeof room !== "string") return;
      void socket.join(room);
      if (typeof ack === "function") ack({ instance: options.name, room });
    });
    socket.on("message", (message: { room?: unknown; text?: unknown }) => {
      if (typeof message?.room !== "string" || typeof message.text !== "string") return;
      const out: ChatMessage = { room: message.room, text: message.text, instance: options.name };
      chat.to(message.room).emit("message", out);
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = http.address();
  return {
    port: typeof address === "object" && address ? address.port : options.port,
    close: async () => {
      // io.close() closes every client connection and the HTTP server.
      await new Promise<void>((resolve) => void io.close(() => resolve()));
      await Promise.allSettled([pubClient.quit(), subClient.quit()]);
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "3001" },
      name: { type: "string", default: "a" },
      redis: { type: "string", default: "redis://127.0.0.1:6379" },
    },
  });
  const server = await startSocketIoServer({ port: Number(values.port), name: values.name, redisUrl: values.redis });
  console.log(`listening ${values.name} ${server.port}`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
