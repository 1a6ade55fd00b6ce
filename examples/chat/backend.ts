/**
 * The chat example's backend: one of several identical processes behind
 * wsgate. A WebSocket at /chat?room=R carries one user in one room (the name
 * comes from wsgate, which checked the user's JWT and passes its `sub` as
 * X-User); every message is kept in Redis (the room's last HISTORY messages,
 * a capped list, sent to each user on joining) and published on the room's
 * Redis channel, so every backend — this one included — hands it to its own
 * users of that room. GET /healthz answers wsgate_health_check; POST /login
 * issues a short-lived HS256 token for a name, signed with the secret that
 * wsgate reads from the example's key file.
 *
 * Run: CHAT_PORT=9201 CHAT_BACKEND_ID=a REDIS_URL=redis://127.0.0.1:6379
 *      CHAT_JWT_SECRET=<base64url> node dist/examples/chat/backend.js
 */

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { SignJWT } from "jose";
import { createClient } from "redis";
import { WebSocketServer, type WebSocket } from "ws";

/** Messages kept per room and sent on joining. */
export const HISTORY = 50;
/** Longest message text accepted (wsgate_max_message stops bigger frames before they get here). */
const MAX_TEXT = 2000;
/** Lifetime of a login token: the page logs in again before every reconnect. */
const TOKEN_TTL = "10m";
const NAME = /^[\w .-]{1,32}$/u;
const ROOM = /^[\w-]{1,32}$/u;

/** What travels on a room's channel and down to the pages. */
export interface ChatEvent {
  readonly type: "message" | "join" | "leave";
  readonly id: string;
  readonly room: string;
  readonly user: string;
  readonly text: string;
  readonly at: number;
  /** The backend the sender is connected to. */
  readonly backend: string;
}

export interface BackendOptions {
  readonly port: number;
  readonly id: string;
  readonly redisUrl: string;
  /** The HS256 secret (raw bytes) shared with wsgate's key file. */
  readonly secret: Uint8Array;
  readonly host?: string;
}

const channel = (room: string): string => `chat:room:${room}`;
const historyKey = (room: string): string => `chat:history:${room}`;

export async function startBackend(options: BackendOptions): Promise<{ close(): Promise<void> }> {
  const redis = createClient({ url: options.redisUrl });
  redis.on("error", (err: Error) => console.error(`backend ${options.id}: redis: ${err.message}`));
  const subscriber = redis.duplicate();
  subscriber.on("error", (err: Error) => console.error(`backend ${options.id}: redis: ${err.message}`));
  await redis.connect();
  await subscriber.connect();

  const rooms = new Map<string, Set<WebSocket>>();
  await subscriber.pSubscribe(channel("*"), (payload: string) => {
    const event = JSON.parse(payload) as ChatEvent;
    const text = JSON.stringify(event);
    for (const socket of rooms.get(event.room) ?? []) socket.send(text);
  });

  const publish = async (event: ChatEvent): Promise<void> => {
    const text = JSON.stringify(event);
    if (event.type === "message") {
      await redis.multi().rPush(historyKey(event.room), text).lTrim(historyKey(event.room), -HISTORY, -1).exec();
    }
    await redis.publish(channel(event.room), text);
  };
  const event = (type: ChatEvent["type"], room: string, user: string, text = ""): ChatEvent => ({
    type,
    id: randomUUID(),
    room,
    user,
    text,
    at: Date.now(),
    backend: options.id,
  });

  const http = createServer((req, res) => {
    route(req, res, options).catch((err: Error) => reply(res, 500, { error: err.message }));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  http.on("upgrade", (req: IncomingMessage, socket, head) => {
    socket.on("error", () => socket.destroy());
    const url = new URL(req.url ?? "/", "http://backend");
    const room = url.searchParams.get("room") ?? "";
    const user = String(req.headers["x-user"] ?? "");
    if (url.pathname !== "/chat" || !ROOM.test(room) || !NAME.test(user)) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => void join(ws, room, user));
  });

  const join = async (ws: WebSocket, room: string, user: string): Promise<void> => {
    ws.on("error", () => ws.terminate());
    const members = rooms.get(room) ?? new Set<WebSocket>();
    rooms.set(room, members);
    const history = (await redis.lRange(historyKey(room), 0, -1)).map((item) => JSON.parse(item) as ChatEvent);
    ws.send(JSON.stringify({ type: "welcome", backend: options.id, room, user, history }));
    members.add(ws);
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : data.toString().trim();
      if (text.length === 0 || text.length > MAX_TEXT) return;
      publish(event("message", room, user, text)).catch((err: Error) => console.error(err.message));
    });
    ws.on("close", () => {
      members.delete(ws);
      if (members.size === 0) rooms.delete(room);
      publish(event("leave", room, user)).catch(() => undefined);
    });
    await publish(event("join", room, user));
  };

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  return {
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await subscriber.close();
      await redis.close();
    },
  };
}

async function route(req: IncomingMessage, res: ServerResponse, options: BackendOptions): Promise<void> {
  const url = new URL(req.url ?? "/", "http://backend");
  if (url.pathname === "/healthz") return reply(res, 200, { ok: true, backend: options.id });
  if (url.pathname === "/login" && req.method === "POST") {
    const body = await readBody(req);
    const name = nameOf(body);
    if (name === undefined) return reply(res, 400, { error: 'a JSON body {"name": …} is expected' });
    if (!NAME.test(name)) return reply(res, 400, { error: "a name is 1-32 letters, digits, spaces, '.', '-' or '_'" });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: "chat" })
      .setSubject(name)
      .setIssuedAt()
      .setExpirationTime(TOKEN_TTL)
      .sign(options.secret);
    return reply(res, 200, { token, backend: options.id });
  }
  return reply(res, 404, { error: "not found" });
}

function nameOf(body: string): string | undefined {
  try {
    return String((JSON.parse(body) as { name?: unknown }).name ?? "").trim();
  } catch {
    return undefined;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > 4096) req.destroy(new Error("body too large"));
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

/** Run as a process: settings from the environment, stopped by SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const env = process.env;
  const backend = await startBackend({
    port: Number(env["CHAT_PORT"] ?? 9201),
    id: env["CHAT_BACKEND_ID"] ?? "a",
    redisUrl: env["REDIS_URL"] ?? "redis://127.0.0.1:6379",
    secret: Buffer.from(env["CHAT_JWT_SECRET"] ?? "", "base64url"),
  });
  console.log(`chat backend ${env["CHAT_BACKEND_ID"] ?? "a"} listening on 127.0.0.1:${env["CHAT_PORT"] ?? 9201}`);
  const stop = (): void => {
    backend.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"))) {
  main().catch((err: Error) => {
    console.error(`chat backend: ${err.message}`);
    process.exit(1);
  });
}
