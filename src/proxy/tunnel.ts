/**
 * The tunnel after a 101: bytes flow both ways untouched. Each direction is a
 * pump with back-pressure: when the receiving socket's buffer is full the
 * sending socket stops reading until 'drain'. Nothing is buffered without
 * bound and no byte is looked at in JavaScript.
 *
 * Closing follows nginx (ngx_http_upstream_process_upgraded): when one side
 * ends or fails, what was already read from it is delivered to the other,
 * then both are closed. The idle timeout (proxy_read_timeout) counts activity
 * in either direction, as nginx re-arms its timer on every event of the tunnel.
 */

import type { Socket } from "node:net";

export type TunnelEnd = "client closed" | "upstream closed" | "client error" | "upstream error" | "timeout";

export interface TunnelOptions {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent after its request head, before the 101. */
  readonly fromClient: Buffer | undefined;
  /** Bytes the upstream sent after its 101 head. */
  readonly fromUpstream: Buffer | undefined;
  readonly idleTimeoutMs: number;
  /** Called once, when both sockets are closed. */
  readonly onClose: (how: TunnelEnd) => void;
}

export function startTunnel(options: TunnelOptions): void {
  const { client, upstream } = options;
  let how: TunnelEnd | undefined;
  let open = 2;
  const closed = (): void => {
    if (--open === 0) options.onClose(how ?? "client closed");
  };
  const finish = (reason: TunnelEnd): void => {
    how ??= reason;
  };

  const linger = options.idleTimeoutMs > 0 ? options.idleTimeoutMs : 60_000;
  pump(client, upstream, "client", finish, linger);
  pump(upstream, client, "upstream", finish, linger);
  client.once("close", closed);
  upstream.once("close", closed);

  if (options.idleTimeoutMs > 0) {
    upstream.setTimeout(options.idleTimeoutMs, () => {
      finish("timeout");
      client.destroy();
      upstream.destroy();
    });
  }
  if (options.fromClient && options.fromClient.length > 0) upstream.write(options.fromClient);
  if (options.fromUpstream && options.fromUpstream.length > 0) client.write(options.fromUpstream);
  client.resume();
  upstream.resume();
}

/** One direction: from → to, pausing `from` while `to` is full. */
function pump(
  from: Socket,
  to: Socket,
  side: "client" | "upstream",
  finish: (reason: TunnelEnd) => void,
  lingerMs: number,
): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
  from.on("end", () => {
    finish(side === "client" ? "client closed" : "upstream closed");
    closeAfterFlush(to, lingerMs);
  });
  from.on("error", () => {
    finish(side === "client" ? "client error" : "upstream error");
    from.destroy();
    closeAfterFlush(to, lingerMs);
  });
}

/** Send what is queued, then close; a peer that stops reading is cut off after `lingerMs`. */
function closeAfterFlush(socket: Socket, lingerMs: number): void {
  if (socket.destroyed) return;
  socket.setTimeout(lingerMs, () => socket.destroy());
  socket.end(() => socket.destroy());
}
