/**
 * Listening sockets as nginx opens them: bound by one process (the master,
 * or the single process of `master_process off`) and accepted on by whoever
 * holds a copy — each worker accepts for itself on the sockets its master
 * handed it, as nginx's workers do.
 *
 * The socket is bound with Node's own `net._createServerHandle()` (what
 * `cluster` uses in its primary): it binds without listen(2), so the binding
 * process neither polls nor accepts. libuv has no way to listen(2) without
 * polling (uv_listen() does both, and Node accepts whatever is polled), so
 * the first listen(2) is the first worker's; from then on the socket stays in
 * the listening state while any process holds it, and connections arriving
 * while no worker polls (a reload, a worker being replaced) wait in the
 * kernel's backlog.
 */

import { lookup } from "node:dns/promises";
import * as net from "node:net";
import { getSystemErrorName } from "node:util";
import type { ListenConf } from "../config/model.js";
import { ListenError, systemErrorText } from "../core/errors.js";

/** A bound TCP socket (libuv's handle): sent to workers as it is ("net.Native"), listened on with listenOn(). */
export interface ListenHandle {
  close(): void;
  /** Fills `out` with the bound address; a negative libuv error instead when the bind failed. */
  getsockname(out: object): number;
}

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: number,
  fd: number | undefined,
  flags: number,
) => ListenHandle | number;

/** libuv's UV_TCP_IPV6ONLY, the flag Node's listen({ ipv6Only }) passes (net.js getFlags()). */
const UV_TCP_IPV6ONLY = 1;

/** Bind the socket of `listen`, not listening yet; throws nginx's `bind() to … failed (98: …)`. */
export async function bindListen(listen: ListenConf): Promise<ListenHandle> {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== "function") {
    throw new ListenError(`bind() to ${listen.text} failed: this Node.js has no net._createServerHandle()`);
  }
  let address = listen.host === "" ? "0.0.0.0" : listen.host;
  let family = net.isIP(address);
  if (family === 0) {
    // A name, as Node's listen({ host }) takes it: its first address.
    try {
      ({ address, family } = await lookup(address));
    } catch (err) {
      throw new ListenError(`bind() to ${listen.text} failed (${systemErrorText(err)})`);
    }
  }
  const handle = create(address, listen.port, family, undefined, listen.ipv6only ? UV_TCP_IPV6ONLY : 0);
  if (typeof handle === "number") {
    throw new ListenError(`bind() to ${listen.text} failed (${systemErrorText(uvError(handle))})`);
  }
  // libuv keeps a bind()'s EADDRINUSE for the listen() to come (uv__tcp_bind's delayed_error); its
  // getsockname() reports it first, so that the master, which never listens, sees it at once.
  const delayed = handle.getsockname({});
  if (delayed < 0) {
    handle.close();
    throw new ListenError(`bind() to ${listen.text} failed (${systemErrorText(uvError(delayed))})`);
  }
  return handle;
}

/**
 * listen(2) on `handle` with the backlog of `listen` and accept on it: each
 * connection goes to `accepted`; a failed accept to `failed`. Resolves once
 * listening; rejects (nginx's `listen() to … failed`) when listen(2) fails.
 */
export function listenOn(
  handle: ListenHandle,
  listen: ListenConf,
  accepted: (socket: net.Socket) => void,
  failed: (err: NodeJS.ErrnoException) => void,
): Promise<net.Server> {
  const server = net.createServer({ noDelay: true, pauseOnConnect: false }, accepted);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new ListenError(`listen() to ${listen.text}, backlog ${listen.backlog} failed (${systemErrorText(err)})`));
    };
    server.once("error", onError);
    server.listen(handle, listen.backlog, () => {
      server.off("error", onError);
      server.on("error", failed);
      resolve(server);
    });
  });
}

/** The error libuv's negative errno `code` stands for, as systemErrorText() reads errors. */
function uvError(code: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(getSystemErrorName(code));
  err.errno = code;
  err.code = getSystemErrorName(code);
  return err;
}
