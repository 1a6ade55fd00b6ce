/**
 * The first step on a `listen … proxy_protocol` address, before HTTP or TLS
 * (ngx_http_wait_request_handler(), ngx_http_ssl_handshake()): the PROXY
 * header is read from the first bytes received, at most `limit` of them (the
 * client_header_buffer_size nginx reads into, or the 4097 bytes it peeks at
 * before a handshake). A broken header is logged at error level "while
 * reading PROXY protocol" and the connection closed without a response; a
 * FIN or client_header_timeout before any byte is logged at info, as nginx
 * (a FIN on a TLS address is a broken, empty header there).
 * The bytes after the header go back to the socket for what follows.
 */

import type { Socket } from "node:net";
import { systemErrorText } from "../core/errors.js";
import type { ErrorLog, RequestLogContext } from "../log/error-log.js";
import type { ProxyProtocolFacts } from "../vars/source.js";
import { readProxyProtocol } from "./proxy-protocol.js";

export interface ProxyHeaderWait {
  readonly connectionId: number;
  readonly client: string;
  /** The listening address, as nginx names it in lines logged before a request ("0.0.0.0:8080"). */
  readonly listenText: string;
  readonly limit: number;
  /** A TLS address peeks at the bytes (MSG_PEEK) rather than reading them. */
  readonly peek: boolean;
  readonly timeoutMs: number;
  readonly errorLog: ErrorLog;
}

/**
 * Wait for the header; `done` gets its addresses (undefined for UNKNOWN,
 * LOCAL …) with the socket paused and the rest of the bytes unshifted, so the
 * caller resumes it once it listens. `onGone` when the socket closes first.
 */
export function readProxyHeader(
  socket: Socket,
  wait: ProxyHeaderWait,
  done: (facts: ProxyProtocolFacts | undefined) => void,
  onGone: () => void,
): void {
  const context: RequestLogContext = {
    connectionId: wait.connectionId,
    action: "while reading PROXY protocol",
    client: wait.client,
    server: wait.listenText,
  };
  const onError = (err: Error): void => wait.errorLog.log("info", `recv() failed (${systemErrorText(err)})`, context);
  const onEnd = (): void => {
    // ngx_http_ssl_handshake() parses what its peek returned, nothing: a broken header; else, as any wait.
    if (wait.peek) wait.errorLog.log("error", `broken header: ""`, context);
    else wait.errorLog.log("info", "client closed connection", context);
    socket.destroy();
  };
  const onTimeout = (): void => {
    wait.errorLog.log("info", "client timed out (110: Connection timed out)", context);
    socket.destroy();
  };
  const onClose = (): void => onGone();
  socket.on("error", onError);
  socket.once("end", onEnd);
  socket.once("close", onClose);
  socket.on("timeout", onTimeout);
  socket.setTimeout(wait.timeoutMs);
  socket.once("data", (chunk: Buffer) => {
    const result = readProxyProtocol(chunk.length > wait.limit ? chunk.subarray(0, wait.limit) : chunk);
    if (result.kind === "error") {
      if (result.message !== undefined) wait.errorLog.log("error", result.message, context);
      // nginx closes with bytes it has not read (peeked at, or past its buffer) in the socket: a reset.
      if (wait.peek || chunk.length > wait.limit) socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    socket.off("close", onClose);
    socket.off("end", onEnd);
    socket.off("error", onError);
    socket.on("error", () => undefined);
    socket.off("timeout", onTimeout);
    socket.setTimeout(0);
    socket.pause();
    if (result.consumed < chunk.length) socket.unshift(chunk.subarray(result.consumed));
    done(result.facts);
  });
}
