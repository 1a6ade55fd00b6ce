/**
 * Reading an upstream's response body: how it is framed (no body, a length,
 * chunked coding, or until the connection closes), and a reader that hands
 * out the body's bytes and says once how it ended.
 */

import type { Socket } from "node:net";
import { ChunkedDecoder } from "../core/chunked.js";
import type { ResponseHead } from "./response-head.js";

export type ResponseFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "close" };

/** How the upstream's body ends, as nginx reads it. */
export function responseFraming(head: ResponseHead, method: string): ResponseFraming {
  if (method === "HEAD" || head.status === 204 || head.status === 304) return { kind: "none" };
  // nginx has no interim responses: a 1xx (a 101 to a request that asked for no upgrade, an unasked
  // 100 Continue) is the response, and whatever follows it is read until the upstream closes and
  // passed on as it is (after a 100, the final response reaches the client that way).
  if (head.status < 200) return { kind: "close" };
  // The parser allowed one of the two at most (response-head.ts); chunked coding counts from HTTP/1.1 on.
  if (head.chunked) return head.version >= 1001 ? { kind: "chunked" } : { kind: "close" };
  const length = head.contentLength;
  if (length === undefined) return { kind: "close" };
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** complete: the body ended as framed; premature: the connection closed first; invalid: bad chunked coding. */
export type BodyOutcome = "complete" | "premature" | "invalid" | "timeout";

/**
 * Read the body from `socket` (`rest` first: bytes that came with the head),
 * passing each piece to `onData`; `onEnd` is called exactly once.
 */
export function readResponseBody(
  socket: Socket,
  framing: ResponseFraming,
  rest: Buffer | undefined,
  onData: (data: Buffer) => void,
  onEnd: (outcome: BodyOutcome) => void,
): void {
  let ended = false;
  const onClose = (): void => end(framing.kind === "close" ? "complete" : "premature");
  const onTimeout = (): void => end("timeout");
  const end = (outcome: BodyOutcome): void => {
    if (ended) return;
    ended = true;
    socket.off("data", onBody);
    socket.off("end", onClose);
    socket.off("timeout", onTimeout);
    onEnd(outcome);
  };
  if (framing.kind === "none") {
    end("complete");
    return;
  }
  let left = framing.kind === "length" ? framing.length : Infinity;
  const decoder = framing.kind === "chunked" ? new ChunkedDecoder() : undefined;
  function onBody(chunk: Buffer): void {
    if (decoder) {
      // The data of every chunk in one read goes on as one piece, so the client gets one chunk per read, as from nginx.
      const pieces: Buffer[] = [];
      const result = decoder.feed(chunk, (data) => void pieces.push(data));
      if (pieces.length > 0) onData(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
      if (result !== "more") end(result === "done" ? "complete" : "invalid");
      return;
    }
    const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
    onData(piece);
    left -= piece.length;
    if (left === 0) end("complete");
  }
  socket.on("data", onBody);
  socket.on("end", onClose);
  socket.on("timeout", onTimeout);
  if (rest) onBody(rest);
}

/** Write several buffers; false when the socket asked us to wait for 'drain'. */
export function writeParts(socket: Socket, parts: readonly Buffer[]): boolean {
  let ok = true;
  for (const part of parts) ok = socket.write(part) && ok;
  return ok;
}
