/**
 * Socket helpers for tests: a raw request/reply exchange, a
 * bounded wait for log lines (which are written when connections close), and
 * a WebSocket opened within a deadline.
 */

import { connect } from "node:net";
import { WebSocket } from "ws";
import { until } from "./wait.js";

/** Send raw bytes, read until the server closes or `until` says the reply is complete. */
export function exchange(port: number, request: string, until?: (reply: Buffer) => boolean): Promise<Buffer> {
  return new Promise((done, fail) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no complete reply for ${JSON.stringify(request.slice(0, 60))}`));
    }, 5000);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      done(Buffer.concat(chunks));
    };
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (until?.(Buffer.concat(chunks))) finish();
    });
    socket.on("end", finish);
    socket.on("error", finish);
    socket.write(request, "latin1");
  });
}

/**
 * Wait until `read()` has `count` lines (the log line of a tunnel comes when it closes), at most 3 s. A bounded poll:
 * no event marks a log line. It does not throw: the caller's assertion on the lines says what is missing.
 */
export async function linesEventually(read: () => string, count: number): Promise<void> {
  const lines = (): number =>
    read()
      .split("\n")
      .filter((line) => line !== "").length;
  await until(() => lines() >= count, 3000, `${count} log lines`).catch(() => undefined);
}

/** True once `reply` holds a whole response whose body length is given by Content-Length. */
export function hasWholeResponse(reply: Buffer): boolean {
  const text = reply.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  if (end === -1) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
  return length !== undefined && text.length >= end + 4 + Number(length);
}

/** Open a WebSocket, within `ms`. */
export function openWs(url: string, ms = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no open within ${ms} ms`));
    }, ms);
    ws.once("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
