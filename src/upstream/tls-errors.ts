/**
 * OpenSSL's failures in nginx's words: a certificate verification result as
 * `(N:TEXT)` (X509_verify_cert_error_string), and a failed handshake to an
 * upstream as ngx_ssl_handshake() and ngx_ssl_connection_error() log it, at
 * "error" for the handshake failures nginx lists and "crit" otherwise.
 */

import { systemErrorText } from "../core/errors.js";

/** Node's verify codes (X509_V_ERR_* without the prefix) with OpenSSL 3's numbers and texts. */
const VERIFY_ERRORS: Readonly<Record<string, readonly [number, string]>> = {
  UNSPECIFIED: [1, "unspecified certificate verification error"],
  UNABLE_TO_GET_ISSUER_CERT: [2, "unable to get issuer certificate"],
  UNABLE_TO_GET_CRL: [3, "unable to get certificate CRL"],
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: [4, "unable to decrypt certificate's signature"],
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: [5, "unable to decrypt CRL's signature"],
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: [6, "unable to decode issuer public key"],
  CERT_SIGNATURE_FAILURE: [7, "certificate signature failure"],
  CRL_SIGNATURE_FAILURE: [8, "CRL signature failure"],
  CERT_NOT_YET_VALID: [9, "certificate is not yet valid"],
  CERT_HAS_EXPIRED: [10, "certificate has expired"],
  CRL_NOT_YET_VALID: [11, "CRL is not yet valid"],
  CRL_HAS_EXPIRED: [12, "CRL has expired"],
  ERROR_IN_CERT_NOT_BEFORE_FIELD: [13, "format error in certificate's notBefore field"],
  ERROR_IN_CERT_NOT_AFTER_FIELD: [14, "format error in certificate's notAfter field"],
  ERROR_IN_CRL_LAST_UPDATE_FIELD: [15, "format error in CRL's lastUpdate field"],
  ERROR_IN_CRL_NEXT_UPDATE_FIELD: [16, "format error in CRL's nextUpdate field"],
  OUT_OF_MEM: [17, "out of memory"],
  DEPTH_ZERO_SELF_SIGNED_CERT: [18, "self-signed certificate"],
  SELF_SIGNED_CERT_IN_CHAIN: [19, "self-signed certificate in certificate chain"],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: [20, "unable to get local issuer certificate"],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: [21, "unable to verify the first certificate"],
  CERT_CHAIN_TOO_LONG: [22, "certificate chain too long"],
  CERT_REVOKED: [23, "certificate revoked"],
  INVALID_CA: [24, "invalid CA certificate"],
  PATH_LENGTH_EXCEEDED: [25, "path length constraint exceeded"],
  INVALID_PURPOSE: [26, "unsuitable certificate purpose"],
  CERT_UNTRUSTED: [27, "certificate not trusted"],
  CERT_REJECTED: [28, "certificate rejected"],
};

export function verifyErrorNumber(code: string): readonly [number, string] {
  return VERIFY_ERRORS[code] ?? VERIFY_ERRORS["UNSPECIFIED"]!;
}

/**
 * The reasons ngx_ssl_connection_error() counts as the peer's handshake
 * failure (logged at c->log_error, "error" for upstreams); alerts from the
 * peer are among them.
 */
const PEER_FAILURES: ReadonlySet<string> = new Set([
  "bad change cipher spec",
  "bad ecpoint",
  "bad extension",
  "bad key share",
  "bad key update",
  "bad psk identity",
  "bad record mac",
  "block cipher pad is wrong",
  "callback failed",
  "ccs received early",
  "decryption failed or bad record mac",
  "digest check failed",
  "ecc cert not for signing",
  "encrypted length too long",
  "excessive message size",
  "http request",
  "https proxy request",
  "inappropriate fallback",
  "invalid ccs message",
  "length mismatch",
  "length too short",
  "missing sigalgs extension",
  "no application protocol",
  "no ciphers passed",
  "no ciphers specified",
  "no common signature algorithm",
  "no compression specified",
  "no shared cipher",
  "no shared group",
  "no suitable key share",
  "no suitable signature algorithm",
  "packet length too long",
  "parse tlsext",
  "record layer failure",
  "record length mismatch",
  "unexpected ccs message",
  "unexpected eof while reading",
  "unexpected message",
  "unexpected record",
  "unknown alert type",
  "unknown protocol",
  "unsafe legacy renegotiation disabled",
  "unsupported protocol",
  "version too low",
  "wrong version number",
]);

export interface HandshakeFailure {
  readonly level: "error" | "crit";
  readonly message: string;
}

/** A socket error during the handshake as nginx logs it (without "while SSL handshaking to upstream"). */
export function handshakeFailure(err: Error): HandshakeFailure {
  const text = err.message;
  // OpenSSL 3's queue as Node words it: "…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:file:line:".
  const ssl = /error:([0-9A-Fa-f]{8}):([^:]*):[^:]*:([^:\n]*)/.exec(text);
  if (ssl) {
    const reason = ssl[3]!;
    const peer = PEER_FAILURES.has(reason) || /^(sslv3|tlsv1|tlsv13) alert /.test(reason);
    return {
      level: peer ? "error" : "crit",
      message: `SSL_do_handshake() failed (SSL: error:${ssl[1]!.toUpperCase()}:${ssl[2]}::${reason})`,
    };
  }
  const code = (err as NodeJS.ErrnoException).code;
  // The peer closed before the handshake was done: "Client network socket disconnected before secure TLS …".
  if (code === "ECONNRESET" && (err as NodeJS.ErrnoException).errno === undefined) {
    return { level: "error", message: "peer closed connection in SSL handshake" };
  }
  return { level: "error", message: `peer closed connection in SSL handshake (${systemErrorText(err)})` };
}
