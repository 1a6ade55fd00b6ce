/**
 * The client side of the example's test, on raw sockets: one request's
 * bytes in, the whole reply out (bounded waits), and a WebSocket session
 * (handshake, masked text frames, close) read frame by frame.
 */

import { connect, type Socket } from "node:net";

/** True once `reply` holds a whole response: head, then Content-Length bytes (none for HEAD, 1xx, 204, 304). */
export function wholeResponse(reply: Buffer, head: boolean): boolean {
  const end = reply.indexOf("\r\n\r\n");
  if (end === -1) return false;
  const text = reply.toString("latin1", 0, end);
  const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(text)?.[1] ?? 0);
  if (head || status < 200 || status === 204 || status === 304) return true;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
  return length !== undefined && reply.length >= end + 4 + Number(length);
}

/** A socket whose bytes accumulate in `data`; `until` waits (bounded) for a condition on them. */
class Conversation {
  data = Buffer.alloc(0);
  ended = false;
  private wake: (() => void) | undefined;
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake?.();
    });
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    this.socket.on("end", end);
    this.socket.on("close", end);
    this.socket.on("error", end);
  }

  async until(done: (data: Buffer) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!done(this.data) && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within 5 s; got ${JSON.stringify(this.data.toString("latin1"))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

/** Send `request`; the reply once whole (or once the server closes, for `toEnd`). */
export async function send(port: number, request: string, toEnd = false): Promise<Buffer> {
  const conversation = new Conversation(port);
  try {
    conversation.socket.write(request, "latin1");
    const head = request.startsWith("HEAD ");
    await conversation.until((data) => !toEnd && wholeResponse(data, head), "whole reply");
    return conversation.data;
  } finally {
    conversation.socket.destroy();
  }
}

/** A client frame: FIN, the opcode, masked with a fixed key (so both runs send the same bytes). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error("clientFrame: short payloads only");
  const mask = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/** Whole server frames at the start of `data` (unmasked): "opcode:text"; the bytes they took. */
function framesOf(data: Buffer): { frames: string[]; used: number } {
  const frames: string[] = [];
  let at = 0;
  while (at + 2 <= data.length) {
    let length = data[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (at + 4 > data.length) break;
      length = data.readUInt16BE(at + 2);
      start = at + 4;
    }
    if (start + length > data.length) break;
    const opcode = data[at]! & 0x0f;
    const payload = data.subarray(start, start + length);
    frames.push(opcode === 8 ? `8:${payload.length >= 2 ? payload.readUInt16BE(0) : ""}` : `${opcode}:${payload}`);
    at = start + length;
  }
  return { frames, used: at };
}

/**
 * A WebSocket session: the handshake's reply head, then for each message
 * the frame that comes back, then the close handshake (1000 both ways).
 * Without a 101 the whole reply is returned as `head` and no frame is sent.
 */
export async function webSocketSession(
  port: number,
  handshake: string,
  messages: readonly string[],
): Promise<{ head: string; frames: string[]; closedByServer: boolean }> {
  const conversation = new Conversation(port);
  try {
    conversation.socket.write(handshake, "latin1");
    await conversation.until((data) => data.includes("\r\n\r\n"), "handshake reply");
    const end = conversation.data.indexOf("\r\n\r\n") + 4;
    const head = conversation.data.toString("latin1", 0, end);
    if (!head.startsWith("HTTP/1.1 101 ")) {
      await conversation.until((data) => wholeResponse(data, false), "whole reply");
      return { head: conversation.data.toString("latin1"), frames: [], closedByServer: conversation.ended };
    }
    const frames = (): string[] => framesOf(conversation.data.subarray(end)).frames;
    for (const [i, message] of messages.entries()) {
      conversation.socket.write(clientFrame(1, Buffer.from(message)));
      await conversation.until(() => frames().length > i, `echo of ${message}`);
    }
    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    conversation.socket.write(clientFrame(8, code));
    await conversation.until(() => frames().at(-1)?.startsWith("8:") === true, "close frame");
    await conversation.until(() => false, "end of the connection after the close frames");
    return { head, frames: frames(), closedByServer: conversation.ended };
  } finally {
    conversation.socket.destroy();
  }
}
