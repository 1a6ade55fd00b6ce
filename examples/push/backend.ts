/**
 * The push example's backend: WebSocket subscribers on `/subscribe?topics=a,b`
 * that stay idle (wsgate's pings keep them alive and find the dead ones),
 * `POST /publish` with `{"topic", "message"}` that publishes to Redis, and
 * `GET /healthz`. Every backend holds one pattern subscription (`push:*`) and
 * delivers each notification to its own subscribers of that topic, so a
 * publish that reaches any backend reaches every subscriber on every backend.
 *
 * Run directly: `node dist/examples/push/backend.js PORT REDIS_URL [NAME]`;
 * it prints "ready" on stdout once it listens and is subscribed.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { WebSocketServer, type WebSocket } from "ws";

/** Redis channels are `push:<topic>`. */
const CHANNEL_PREFIX = "push:";
/** A publish body larger than this is refused (413). */
const MAX_BODY = 64 * 1024;
/** Topic names: what fits a URL argument and a channel name without escaping. */
const TOPIC = /^[A-Za-z0-9_.-]{1,64}$/;

export interface PushBackend {
  readonly port: number;
  readonly name: string;
  /** Subscribers connected to this backend now. */
  subscribers(): number;
  close(): Promise<void>;
}

/** What a subscriber receives for each notification of its topics. */
export interface Notification {
  readonly type: "notification";
  readonly topic: string;
  readonly message: unknown;
  /** The backend the publish reached, and the one that delivered it. */
  readonly publishedVia: string;
  readonly deliveredBy: string;
}

type Publishable = Omit<Notification, "deliveredBy">;

/** The one Redis command the HTTP side needs. */
interface Publisher {
  publish(channel: string, message: string): Promise<number>;
}

export async function startPushBackend(port: number, redisUrl: string, name: string): Promise<PushBackend> {
  const publisher = createClient({ url: redisUrl });
  publisher.on("error", (err: Error) => console.error(`${name}: redis: ${err.message}`));
  const subscriber = publisher.duplicate();
  subscriber.on("error", (err: Error) => console.error(`${name}: redis subscriber: ${err.message}`));
  await publisher.connect();
  await subscriber.connect();

  const topics = new Map<string, Set<WebSocket>>();
  await subscriber.pSubscribe(`${CHANNEL_PREFIX}*`, (payload, channel) =>
    deliver(topics, channel.slice(CHANNEL_PREFIX.length), payload, name),
  );

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  let connected = 0;
  const server = createServer((req, res) => {
    handleHttp(req, res, publisher, name, () => connected).catch((err: Error) =>
      reply(res, 500, { error: err.message }),
    );
  });
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    const wanted = subscribeTopics(req);
    if (typeof wanted === "string") {
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: ${wanted.length}\r\n\r\n${wanted}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      connected++;
      for (const topic of wanted) (topics.get(topic) ?? topics.set(topic, new Set()).get(topic)!).add(ws);
      ws.on("error", () => ws.terminate());
      ws.once("close", () => {
        connected--;
        for (const topic of wanted) {
          const set = topics.get(topic);
          set?.delete(ws);
          if (set?.size === 0) topics.delete(topic);
        }
      });
      ws.send(JSON.stringify({ type: "subscribed", topics: wanted, backend: name }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    name,
    subscribers: () => connected,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await subscriber.quit().catch(() => undefined);
      await publisher.quit().catch(() => undefined);
    },
  };
}

/** The topics of `/subscribe?topics=a,b`, or why the request is refused. */
function subscribeTopics(req: IncomingMessage): string[] | string {
  const url = new URL(req.url ?? "/", "http://backend");
  if (url.pathname !== "/subscribe") return "only /subscribe takes a WebSocket\n";
  const topics = [...new Set((url.searchParams.get("topics") ?? "").split(",").filter((t) => t !== ""))];
  if (topics.length === 0) return "topics=a,b is required\n";
  const bad = topics.find((topic) => !TOPIC.test(topic));
  return bad === undefined ? topics : `invalid topic "${bad}"\n`;
}

function deliver(topics: Map<string, Set<WebSocket>>, topic: string, payload: string, name: string): void {
  const subscribers = topics.get(topic);
  if (subscribers === undefined) return;
  // One serialisation per notification and backend, not one per subscriber.
  const published = JSON.parse(payload) as Publishable;
  const frame = JSON.stringify({ ...published, deliveredBy: name } satisfies Notification);
  for (const ws of subscribers) if (ws.readyState === ws.OPEN) ws.send(frame);
}

async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  publisher: Publisher,
  name: string,
  connected: () => number,
): Promise<void> {
  const path = new URL(req.url ?? "/", "http://backend").pathname;
  if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
    reply(res, 200, { ok: true, backend: name, subscribers: connected() });
    return;
  }
  if (path !== "/publish") return reply(res, 404, { error: "not found" });
  if (req.method !== "POST") return reply(res, 405, { error: "POST only" });
  const body = await readBody(req);
  if (body === undefined) return reply(res, 413, { error: `body over ${MAX_BODY} bytes` });
  let parsed: { topic?: unknown; message?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return reply(res, 400, { error: "the body is not JSON" });
  }
  if (typeof parsed.topic !== "string" || !TOPIC.test(parsed.topic) || parsed.message === undefined) {
    return reply(res, 400, { error: 'expected {"topic": "name", "message": …}' });
  }
  const notification: Publishable = {
    type: "notification",
    topic: parsed.topic,
    message: parsed.message,
    publishedVia: name,
  };
  // PUBLISH answers with the number of backends subscribed (each holds one pattern subscription).
  const backends = await publisher.publish(CHANNEL_PREFIX + parsed.topic, JSON.stringify(notification));
  reply(res, 202, { published: true, backend: name, backends });
}

/** The body as text, or undefined once it passes MAX_BODY. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.once("end", () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** `node backend.js PORT REDIS_URL [NAME]`: one backend in this process until SIGTERM/SIGINT. */
async function main(argv: readonly string[]): Promise<void> {
  const [port, redisUrl, name] = argv;
  if (port === undefined || redisUrl === undefined) throw new Error("usage: backend.js PORT REDIS_URL [NAME]");
  const backend = await startPushBackend(Number(port), redisUrl, name ?? `backend-${port}`);
  const stop = (): void => void backend.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  console.log(`ready ${backend.name} on 127.0.0.1:${backend.port}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(`push backend: ${err.message}`);
    process.exit(1);
  });
}
