/**
 * TLS clients for the tests: one request over a fresh TLS connection (with
 * the certificate the server presented), raw bytes to a port, and a wss://
 * echo exchange with the `ws` client.
 */

import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { connect } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

export interface TlsReply {
  readonly reply: string;
  /** The CN of the certificate the server presented. */
  readonly subject: string;
  readonly protocol: string;
  /** The handshake resumed the session given in the options. */
  readonly reused: boolean;
  /** The session (ticket) the server sent, to resume with. */
  readonly session: Buffer | undefined;
}

/** Send `request` over TLS and read until the server closes (bounded by 5 s). */
export function tlsExchange(port: number, request: string, options: ConnectionOptions = {}): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
    let reply = "";
    let subject = "";
    let protocol = "";
    let reused = false;
    let session: Buffer | undefined;
    socket.on("session", (ticket: Buffer) => (session = ticket));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply over TLS within 5 s: ${JSON.stringify(reply.slice(0, 80))}`));
    }, 5000);
    socket.once("secureConnect", () => {
      subject = String(socket.getPeerCertificate().subject?.CN ?? "");
      protocol = socket.getProtocol() ?? "";
      reused = socket.isSessionReused();
      socket.write(request, "latin1");
    });
    socket.on("data", (chunk: Buffer) => (reply += chunk.toString("latin1")));
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, subject, protocol, reused, session });
    });
  });
}

/** Raw bytes to a port; what comes back until the server closes or `ms` pass. */
export function rawExchange(port: number, bytes: Buffer | string, ms = 3000): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A WebSocket echo backend on a loopback port. */
export async function startEchoBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  server.on("connection", (socket) => {
    socket.on("message", (data, binary) => socket.send(binary ? data : `echo: ${String(data)}`, { binary }));
    socket.on("error", () => undefined);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: async () => {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An open wss:// client (not checking the test certificate). */
export async function openWss(url: string, servername?: string): Promise<WebSocket> {
  const socket = new WebSocket(url, { rejectUnauthorized: false, ...(servername ? { servername } : {}) });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no open for ${url} within 5 s`)), 5000);
    socket.once("open", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return socket;
}

/** Send a text message and wait for the next message back (5 s). */
export function roundTrip(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no echo of ${text}`)), 5000);
    socket.once("message", (data) => {
      clearTimeout(timer);
      resolve(String(data));
    });
    socket.send(text);
  });
}

/** Close and wait for the close event (bounded). */
export function closeWs(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, 3000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1000);
  });
}
