/**
 * HTTP/2 in clear text with prior knowledge (h2c), as nginx 1.25.1+ tells it
 * on an address with `http2 on` (ngx_http_wait_request_handler): the first
 * bytes are compared with the connection preface; as long as they match a
 * part of it, more are awaited; once the whole preface is there the
 * connection is HTTP/2, and at the first byte that differs it is HTTP/1.x.
 * The bytes read are put back for whoever reads the connection next.
 */

import type { Socket } from "node:net";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type PrefaceVerdict = "http2" | "http1";

/**
 * Read `socket`'s first bytes, then call `decide` with them put back and the
 * socket paused; `gone` if it closes or times out (client_header_timeout) first.
 */
export function sniffPreface(
  socket: Socket,
  timeoutMs: number,
  decide: (verdict: PrefaceVerdict) => void,
  gone: () => void,
): void {
  let seen: Buffer | undefined;
  const onData = (chunk: Buffer): void => {
    seen = seen ? Buffer.concat([seen, chunk]) : chunk;
    const verdict = compare(seen);
    if (verdict === undefined) return;
    finish();
    socket.pause();
    socket.unshift(seen);
    decide(verdict);
  };
  const onGone = (): void => {
    finish();
    socket.destroy();
    gone();
  };
  const finish = (): void => {
    socket.off("data", onData);
    socket.off("end", onGone);
    socket.off("close", onGone);
    socket.off("timeout", onGone);
    socket.setTimeout(0);
  };
  socket.on("error", () => undefined);
  socket.on("data", onData);
  socket.once("end", onGone);
  socket.once("close", onGone);
  socket.once("timeout", onGone);
  socket.setTimeout(timeoutMs);
}

/** "http2" for the whole preface, "http1" at a byte that differs, undefined while a part of it matches. */
export function compare(bytes: Buffer): PrefaceVerdict | undefined {
  const length = Math.min(bytes.length, PREFACE.length);
  if (bytes.compare(PREFACE, 0, length, 0, length) !== 0) return "http1";
  return length === PREFACE.length ? "http2" : undefined;
}
