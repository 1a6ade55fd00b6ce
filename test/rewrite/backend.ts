/**
 * A backend for the rewrite tests that records every request head and answers
 * as the path and query ask: `/st/NNN` answers status NNN; each `h=Name:Value`
 * argument (URL-encoded, "BACKEND" standing for the backend's own port) adds a
 * response header; `/sse` starts a server-sent-events stream whose second
 * event waits for release().
 */

import { createServer, type Server, type Socket } from "node:net";

export interface ScriptedBackend {
  readonly port: number;
  readonly heads: string[];
  /** Send the second event of every waiting `/sse` stream and end it. */
  release(): void;
  close(): Promise<void>;
}

export async function startScriptedBackend(): Promise<ScriptedBackend> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const streams: Socket[] = [];
  let port = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = "";
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      const end = buffered.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buffered.slice(0, end + 4);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      heads.push(head);
      buffered = "";
      answer(socket, head, port, streams);
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("no port");
  port = address.port;
  return {
    port,
    heads,
    release: () => {
      for (const socket of streams.splice(0)) socket.end("data: two\n\n");
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

function answer(socket: Socket, head: string, port: number, streams: Socket[]): void {
  const target = head.split(" ")[1] ?? "/";
  const question = target.indexOf("?");
  const path = question === -1 ? target : target.slice(0, question);
  const query = question === -1 ? "" : target.slice(question + 1);
  let extra = "";
  for (const pair of query.split("&")) {
    if (!pair.startsWith("h=")) continue;
    const header = decodeURIComponent(pair.slice(2)).replaceAll("BACKEND", String(port));
    const colon = header.indexOf(":");
    extra += `${header.slice(0, colon)}: ${header.slice(colon + 1)}\r\n`;
  }
  if (path.endsWith("/sse")) {
    socket.write(
      `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n${extra}Connection: close\r\n\r\ndata: one\n\n`,
    );
    streams.push(socket);
    return;
  }
  const status = /\/st\/(\d{3})/.exec(path)?.[1] ?? "200";
  const body = `path=${target}\n`;
  socket.end(
    `HTTP/1.1 ${status} Backend\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}
