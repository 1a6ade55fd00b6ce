/**
 * Accepting on a `listen … ssl` address, as ngx_http_ssl_handshake(): the
 * first byte tells a TLS ClientHello (0x16, or SSLv2's high bit) from plain
 * HTTP. TLS: the socket becomes a server-side tls.TLSSocket with the default
 * server's context, SNI switching to the context of the server whose
 * server_name matches (Node's SNICallback); the HTTP engine then runs on the
 * TLS socket. Plain HTTP: the request is read as usual and answered with
 * nginx's 497 page. client_header_timeout bounds the wait for the first byte
 * and the handshake. A failed handshake closes that connection only, with
 * nginx's info-level line ("SSL_do_handshake() failed … while SSL handshaking").
 */

import type { Server, Socket } from "node:net";
import { EventEmitter } from "node:events";
import { TLSSocket, type SecureContext } from "node:tls";
import { systemErrorText } from "../core/errors.js";
import type { ErrorLog, RequestLogContext } from "../log/error-log.js";
import type { TlsFacts } from "../vars/source.js";
import type { ClientConnection } from "./connection.js";
import { takeConnectionId } from "./connection-ids.js";
import { selectServer, type AddressServers } from "./select-server.js";
import { clientHelloServerName } from "./client-hello.js";
import { stripMappedV4 } from "./client-address.js";

/** Makes the connection the HTTP engine runs on; `plain` for HTTP sent to the TLS address. */
export type OpenConnection = (socket: Socket, id: number, plain: boolean) => ClientConnection;

/** The handshake chose "h2": the connection goes to HTTP/2 (the HTTP/1.x one opened for it is let go). */
export type OpenHttp2 = (connection: ClientConnection, socket: TLSSocket, tls: TlsFacts) => void;

const ALPN = ["http/1.1", "http/1.0", "http/0.9"];
const ALPN_H2 = ["h2", ...ALPN];

type AlpnCallback = (info: { servername: string; protocols: string[] }) => string | undefined;
const alpnCallbacks = new WeakMap<AddressServers, AlpnCallback>();

/**
 * ngx_http_ssl_alpn_select(): the server's list in its order of preference —
 * "h2" first where the address (`listen … http2`) or the server the name
 * selects (`http2 on`) has HTTP/2 — and the first of it the client offers; a
 * client offering none of them is refused.
 */
function alpnCallback(servers: AddressServers): AlpnCallback {
  let callback = alpnCallbacks.get(servers);
  if (!callback) {
    callback = ({ servername, protocols }) => {
      const name = servername ? servername.toLowerCase().replace(/\.$/, "") : "";
      const server = name ? selectServer(servers, name).server : servers.defaultServer;
      const offered = servers.http2 === true || server.srv.http2 ? ALPN_H2 : ALPN;
      return offered.find((protocol) => protocols.includes(protocol));
    };
    alpnCallbacks.set(servers, callback);
  }
  return callback;
}

const sniCallbacks = new WeakMap<AddressServers, TLSSocketOptionsSni>();
type TLSSocketOptionsSni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

/**
 * ngx_http_ssl_servername(): the server the name selects, if it has a
 * certificate; else the connection keeps the default server's.
 */
function sniCallback(servers: AddressServers): TLSSocketOptionsSni {
  let callback = sniCallbacks.get(servers);
  if (!callback) {
    callback = (servername, cb) => {
      const name = servername.toLowerCase().replace(/\.$/, "");
      const { server } = selectServer(servers, name);
      cb(null, server.secureContext ?? servers.defaultServer.secureContext);
    };
    sniCallbacks.set(servers, callback);
  }
  return callback;
}

const staplers = new WeakMap<AddressServers, EventEmitter | null>();

/**
 * OCSP stapling (ssl_stapling_file): Node asks a TLS socket's `server` for
 * the response when the client asked for the certificate's status; the
 * certificate the handshake uses names the response. Null when no server of
 * the address staples.
 */
function stapler(servers: AddressServers): EventEmitter | null {
  let emitter = staplers.get(servers);
  if (emitter !== undefined) return emitter;
  const staples = new Map<string, Buffer>();
  const all = new Set([
    servers.defaultServer,
    ...servers.exact.values(),
    ...[...servers.leading, ...servers.trailing, ...servers.regexes].map(([, server]) => server),
  ]);
  for (const server of all) {
    for (const [certificate, response] of server.srv.sslStaples ?? []) staples.set(certificate, response);
  }
  emitter = null;
  if (staples.size > 0) {
    const made = new EventEmitter();
    // Node's request for a response reads the context of a handshake without SNI from here.
    Object.assign(made, { _sharedCreds: servers.defaultServer.secureContext });
    made.on("OCSPRequest", (certificate: Buffer, _issuer: unknown, done: (err: null, response?: Buffer) => void) =>
      done(null, staples.get(certificate.toString("base64"))),
    );
    emitter = made;
  }
  staplers.set(servers, emitter);
  return emitter;
}

/**
 * Wait for the first bytes of `raw`, then open the connection over TLS or
 * plain. `onGone` is called when the socket closes before that.
 */
export function acceptOnSslAddress(
  raw: Socket,
  servers: AddressServers,
  listenText: string,
  errorLog: ErrorLog,
  open: OpenConnection,
  onGone: () => void,
  /** The connection's number when taken already (a PROXY protocol header was read first). */
  connectionId: number | undefined,
  openHttp2: OpenHttp2,
): void {
  const id = connectionId ?? takeConnectionId();
  const client = stripMappedV4(raw.remoteAddress ?? "");
  const context = (): RequestLogContext => ({
    connectionId: id,
    action: "while SSL handshaking",
    client,
    server: listenText,
  });
  // Before the first byte, as ngx_http_ssl_handshake(): a FIN, a reset or the timeout is logged at info.
  const onError = (err: Error): void => errorLog.log("info", `recv() failed (${systemErrorText(err)})`, context());
  const onEnd = (): void => {
    errorLog.log("info", "client closed connection", context());
    raw.destroy();
  };
  const onTimeout = (): void => {
    errorLog.log("info", "client timed out (110: Connection timed out)", context());
    raw.destroy();
  };
  const onClose = (): void => onGone();
  raw.on("error", onError);
  raw.once("end", onEnd);
  raw.once("close", onClose);
  raw.on("timeout", onTimeout);
  raw.setTimeout(servers.defaultServer.srv.clientHeaderTimeoutMs);
  raw.once("data", (chunk: Buffer) => {
    raw.off("close", onClose);
    raw.off("end", onEnd);
    raw.off("error", onError);
    raw.on("error", () => undefined);
    raw.off("timeout", onTimeout);
    raw.setTimeout(0);
    raw.pause();
    raw.unshift(chunk);
    const first = chunk[0]!;
    if (first !== 0x16 && (first & 0x80) === 0) {
      open(raw, id, true);
      raw.resume();
      return;
    }
    // The name as sent: Node does not report it for a resumed TLS 1.2 session, nginx does.
    const sentName = clientHelloServerName(chunk) ?? "";
    const ocsp = stapler(servers);
    const socket = new TLSSocket(raw, {
      isServer: true,
      ...(ocsp ? { server: ocsp as unknown as Server } : {}),
      secureContext: servers.defaultServer.secureContext!,
      SNICallback: sniCallback(servers),
      ALPNCallback: alpnCallback(servers),
    });
    // Until the handshake is done, the first reason the connection ends is logged, once.
    let handshaking = true;
    const fail = (message: string): void => {
      if (!handshaking) return;
      handshaking = false;
      errorLog.log("info", message, context());
    };
    const connection = open(socket, id, false);
    socket.once("secure", () => {
      handshaking = false;
      connection.tls = tlsFacts(socket, sentName);
      if (socket.alpnProtocol === "h2") openHttp2(connection, socket, connection.tls);
    });
    socket.on("error", (err: Error) => fail(handshakeFailure(err)));
    socket.on("timeout", () => fail("client timed out (110: Connection timed out)"));
    socket.once("close", () => fail("peer closed connection in SSL handshake"));
  });
}

function tlsFacts(socket: TLSSocket, sentName: string): TlsFacts {
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  return {
    protocol: socket.getProtocol() ?? "",
    cipher: socket.getCipher()?.name ?? "",
    serverName: sentName || (typeof servername === "string" ? servername : ""),
    sessionReused: socket.isSessionReused(),
    alpnProtocol: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : "",
  };
}

/** nginx's words for a failed handshake: OpenSSL's error without its function name, as OpenSSL 3 prints it. */
function handshakeFailure(err: Error): string {
  const match = /error:([0-9A-Fa-f]{8}):([^:]*):[^:]*:([^:\n]*)/.exec(err.message);
  if (match) return `SSL_do_handshake() failed (SSL: error:${match[1]}:${match[2]}::${match[3]})`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ECONNRESET") return "SSL_do_handshake() failed (104: Connection reset by peer)";
  return "peer closed connection in SSL handshake";
}
