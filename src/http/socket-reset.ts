/** reset_timedout_connection's close: RST instead of FIN. */

import { Socket } from "node:net";
import { TLSSocket } from "node:tls";

/**
 * Close with RST (SO_LINGER 0). A TLS socket's own handle cannot be reset:
 * the TCP socket it wraps is.
 */
export function resetSocket(socket: Socket): void {
  const wrapped = (socket as Socket & { _parent?: unknown })._parent;
  const tcp = socket instanceof TLSSocket && wrapped instanceof Socket ? wrapped : socket;
  try {
    tcp.resetAndDestroy();
  } catch {
    // Not a TCP handle (a socket pair in tests): a plain close.
  }
  socket.destroy();
}
