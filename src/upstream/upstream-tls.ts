/**
 * TLS to an https upstream, the connect step's part of nginx's
 * ngx_http_upstream_ssl_init_connection(), ngx_http_upstream_ssl_name(),
 * ngx_http_upstream_ssl_certificate() and ngx_http_upstream_ssl_handshake():
 * the name to verify and to send as SNI, the client certificate (per request
 * when it has variables), the session to resume, and after the handshake the
 * checks of proxy_ssl_verify with nginx's error-log words.
 */

import { isIPv4 } from "node:net";
import { connect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import type { LocConf, ProxyPass, UpstreamAddress } from "../config/model.js";
import { hasVariables, type ProxySslClient } from "../config/modules/proxy-ssl.js";
import { loadClientCertificate } from "../config/modules/proxy-ssl-context.js";
import type { VariableSource } from "../vars/source.js";
import { verifyErrorNumber } from "./tls-errors.js";
import { peerSession, savePeerSession, type PeerSession } from "./tls-sessions.js";

/** What a request's connections to an https upstream use. */
export interface UpstreamTls {
  readonly client: ProxySslClient;
  readonly context: SecureContext;
  /** proxy_ssl_name after ngx_http_upstream_ssl_name() (port cut off): what the certificate must match. */
  readonly name: string;
  /** SNI, when proxy_ssl_server_name is on and the name is not an address. */
  readonly servername: string | undefined;
  readonly verify: boolean;
  readonly verifyDepth: number;
  readonly reuseSession: boolean;
}

/** A verification failure (nginx's line without "while …"), or a client certificate that would not load. */
export class UpstreamTlsError extends Error {
  constructor(
    message: string,
    /** "verify": the try fails (proxy_next_upstream error); "setup": the request ends with 500. */
    readonly kind: "verify" | "setup",
  ) {
    super(message);
  }
}

/** The request's TLS settings for `pass`, or the failure to load its client certificate. */
export function upstreamTls(loc: LocConf, r: VariableSource, pass: ProxyPass): UpstreamTls | UpstreamTlsError {
  const client = loc.proxySslClient;
  if (!client) return new UpstreamTlsError("no TLS context for the location", "setup");
  // ngx_http_upstream_ssl_name(): proxy_ssl_name, else the host of proxy_pass; a port is cut off.
  let name = loc.proxySslName ? loc.proxySslName.evaluate(r) : pass.proxyHost;
  // An IPv6 literal keeps its brackets: the port's colon is the one after "]".
  const colon = name.indexOf(":", name.startsWith("[") ? Math.max(name.indexOf("]"), 0) : 0);
  if (colon !== -1) name = name.slice(0, colon);
  const sni = loc.proxySslServerName && name !== "" && !name.startsWith("[") && !isIPv4(name) ? name : undefined;
  const context = clientContext(client, loc, r);
  if (context instanceof UpstreamTlsError) return context;
  return {
    client,
    context,
    name,
    servername: sni,
    verify: loc.proxySslVerify,
    verifyDepth: loc.proxySslVerifyDepth,
    reuseSession: loc.proxySslSessionReuse,
  };
}

/** The location's context, or one with the client certificate its variables name (made once per paths). */
function clientContext(client: ProxySslClient, loc: LocConf, r: VariableSource): SecureContext | UpstreamTlsError {
  const certificate = loc.proxySslCertificate;
  const key = loc.proxySslCertificateKey;
  if (!certificate || !key || (!hasVariables(certificate.source) && !hasVariables(key.source))) return client.context;
  const certPath = certificate.evaluate(r);
  const keyPath = key.evaluate(r);
  // ngx_http_upstream_ssl_certificate(): an empty certificate means none.
  if (certPath === "") return client.context;
  const cacheKey = `${certPath}\0${keyPath}`;
  const known = client.certificateContexts.get(cacheKey);
  if (known) return known;
  try {
    const made = createSecureContext({
      ...client.options,
      ...loadClientCertificate(certPath, keyPath, loc.proxySslPasswords),
    });
    client.certificateContexts.set(cacheKey, made);
    return made;
  } catch (err) {
    return new UpstreamTlsError(err instanceof Error ? err.message : String(err), "setup");
  }
}

/** A connection's handshake: the session it offered, and its chain result once known. */
interface Handshake {
  readonly tls: UpstreamTls;
  readonly group: object;
  readonly address: UpstreamAddress;
  readonly offered: PeerSession | undefined;
  /** Set once the handshake is done: null when the chain passed. */
  chain?: string | null;
  /** A session that came before the handshake was done (TLS 1.2), kept once the chain's result is known. */
  pending?: Buffer;
}

const HANDSHAKES = new WeakMap<TLSSocket, Handshake>();

/** The socket of a new connection to a peer of `group`: TCP, then the TLS handshake ('secureConnect'). */
export function connectTls(tls: UpstreamTls, group: object, address: UpstreamAddress): TLSSocket {
  const offered = tls.reuseSession ? peerSession(group, tls.client, address) : undefined;
  const servername = tls.servername;
  const where = address.kind === "unix" ? { path: address.path } : { host: address.host, port: address.port };
  const socket = connect({
    ...where,
    secureContext: tls.context,
    ...(servername !== undefined ? { servername } : {}),
    ...(offered ? { session: offered.session } : {}),
    // Verification is nginx's, after the handshake (its verify callback accepts every certificate).
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
  HANDSHAKES.set(socket, { tls, group, address, offered });
  return socket;
}

/** ngx_http_upstream_save_round_robin_peer_session(): the session a later connection to the peer resumes. */
export function keepSession(socket: TLSSocket, session: Buffer): void {
  const handshake = HANDSHAKES.get(socket);
  if (!handshake?.tls.reuseSession) return;
  if (handshake.chain === undefined) {
    handshake.pending = session;
    return;
  }
  const { group, address, chain } = handshake;
  savePeerSession(group, handshake.tls.client, address, { session, chain: chain ?? undefined });
}

/**
 * A connection that failed proxy_ssl_verify's checks after a whole handshake
 * is shut down rather than cut: as nginx's SSL shutdown reads what the peer
 * sent, a session ticket that comes meanwhile is kept (with the failed
 * chain's result, which a resumed connection then has). False when the
 * socket is not such a connection.
 */
export function closeAfterFailedCheck(socket: TLSSocket): boolean {
  const handshake = HANDSHAKES.get(socket);
  if (!handshake || handshake.chain === undefined || socket.destroyed) return false;
  socket.on("session", (session: Buffer) => keepSession(socket, session));
  socket.on("error", () => undefined);
  socket.on("data", () => undefined);
  socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
  return true;
}

/** How long a failed connection may take to send its session ticket and close. */
const LINGER_MS = 1000;

/**
 * ngx_http_upstream_ssl_handshake(): the chain's result (the resumed
 * session's own), then with proxy_ssl_verify on the checks nginx makes;
 * undefined when the upstream passes.
 */
export function verifyUpstream(socket: TLSSocket, tls: UpstreamTls): UpstreamTlsError | undefined {
  const handshake = HANDSHAKES.get(socket);
  const chain =
    handshake?.offered && socket.isSessionReused() ? (handshake.offered.chain ?? null) : chainResult(socket, tls);
  if (handshake) {
    handshake.chain = chain;
    if (handshake.pending) keepSession(socket, handshake.pending);
  }
  if (!tls.verify) return undefined;
  if (chain !== null) return new UpstreamTlsError(`upstream SSL certificate verify error: ${chain}`, "verify");
  const certificate = socket.getPeerX509Certificate();
  if (!certificate || tls.name === "" || certificate.checkHost(tls.name) === undefined) {
    return new UpstreamTlsError(`upstream SSL certificate does not match "${tls.name}"`, "verify");
  }
  return undefined;
}

/** "(N:TEXT)" as SSL_get_verify_result() gives it, or null. */
function chainResult(socket: TLSSocket, tls: UpstreamTls): string | null {
  if (!socket.authorized) {
    const [number, text] = verifyErrorNumber(String(socket.authorizationError ?? "UNSPECIFIED"));
    return `(${number}:${text})`;
  }
  // Without proxy_ssl_verify nginx leaves OpenSSL's depth (100). Past the depth OpenSSL stops
  // looking for the anchor: "unable to get local issuer certificate".
  const depth = tls.verify ? tls.verifyDepth : 100;
  return chainLength(socket) > depth + 2 ? "(20:unable to get local issuer certificate)" : null;
}

/**
 * Certificates from the peer's to the trust anchor. proxy_ssl_verify_depth
 * counts the CA certificates between them (as nginx with OpenSSL 3 does):
 * depth 1 allows the peer's certificate, one intermediate and the anchor.
 */
function chainLength(socket: TLSSocket): number {
  let length = 0;
  const seen = new Set<string>();
  let cert = socket.getPeerCertificate(true) as { fingerprint256?: string; issuerCertificate?: unknown } | undefined;
  while (cert?.fingerprint256 && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    length++;
    cert = cert.issuerCertificate as typeof cert;
  }
  return length;
}
