/**
 * A chat user for the chat example's tests, on `ws`: it logs in through
 * wsgate (POST /login), connects to /chat?room=R&token=T with the page's
 * Origin, and keeps every event it receives; or it connects straight to a
 * backend (X-User set as wsgate would) to stand for a user whom another
 * route placed there.
 */

import WebSocket from "ws";
import type { ChatEvent } from "../../examples/chat/backend.js";
import { until } from "../support/wait.js";

export interface Welcome {
  readonly type: "welcome";
  readonly backend: string;
  readonly room: string;
  readonly user: string;
  readonly history: readonly ChatEvent[];
}

export interface ChatUser {
  readonly ws: WebSocket;
  readonly welcome: Welcome;
  readonly events: ChatEvent[];
  /** Resolves with the close code once the connection ends. */
  readonly closed: Promise<number>;
  /** The first message event matching `text`, within `ms`. */
  message(text: string, ms?: number): Promise<ChatEvent>;
}

export async function login(port: number, name: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json()) as { token?: string; error?: string };
  if (!response.ok || !body.token) throw new Error(`login ${response.status}: ${body.error}`);
  return body.token;
}

/** Through wsgate: log in, then connect; rejects with the handshake's status when refused. */
export async function joinThroughWsgate(port: number, name: string, room: string): Promise<ChatUser> {
  const token = await login(port, name);
  return open(`ws://127.0.0.1:${port}/chat?room=${room}&token=${token}`, { Origin: `http://127.0.0.1:${port}` });
}

/** Straight to a backend, as wsgate would forward an authenticated user. */
export function joinBackend(backendPort: number, name: string, room: string): Promise<ChatUser> {
  return open(`ws://127.0.0.1:${backendPort}/chat?room=${room}`, { "X-User": name });
}

/** The status of a refused handshake (or 101). */
export function handshakeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("open", () => {
      resolve(101);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

function open(url: string, headers: Record<string, string>): Promise<ChatUser> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    const events: ChatEvent[] = [];
    const closed = new Promise<number>((done) => ws.once("close", (code) => done(code)));
    ws.once("unexpected-response", (_req, res) => {
      ws.terminate();
      reject(new Error(`handshake refused: ${res.statusCode}`));
    });
    ws.once("error", reject);
    ws.on("message", (data) => {
      const event = JSON.parse(data.toString()) as ChatEvent | Welcome;
      if (event.type === "welcome") {
        ws.off("error", reject);
        ws.on("error", () => undefined);
        resolve({
          ws,
          welcome: event,
          events,
          closed,
          message: (text, ms = 5000) =>
            until(() => events.find((e) => e.type === "message" && e.text === text), ms, `message "${text}"`),
        });
      } else events.push(event);
    });
  });
}
