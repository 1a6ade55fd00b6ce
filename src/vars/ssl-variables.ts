/**
 * ngx_http_ssl_module's variables that http-variables.ts does not define
 * itself. As ngx_http_ssl_variable(): on a plain connection every one is not
 * found, and so is an empty value.
 *
 * wsgate has no `ssl_verify_client`, so a client never sends a certificate:
 * the $ssl_client_* variables are what nginx gives for a connection without
 * one ("NONE" for $ssl_client_verify, the rest not found). $ssl_session_id,
 * $ssl_curve, $ssl_ciphers and $ssl_curves come from the connection's TLS
 * facts where the HTTP layer can tell them (Node's TLS does not expose them
 * all on the server side); not found otherwise.
 */

import type { VariableRegistry } from "./registry.js";
import type { TlsFacts, VariableSource } from "./source.js";

type TlsGetter = (tls: TlsFacts) => string | undefined;

const SSL: Record<string, TlsGetter> = {
  ssl_session_id: (tls) => tls.sessionId,
  ssl_curve: (tls) => tls.curve,
  ssl_ciphers: (tls) => tls.clientCiphers,
  ssl_curves: (tls) => tls.clientCurves,
  // ngx_ssl_get_client_verify(): the verify result is X509_V_OK and no certificate came.
  ssl_client_verify: () => "NONE",
  ssl_client_cert: () => undefined,
  ssl_client_raw_cert: () => undefined,
  ssl_client_escaped_cert: () => undefined,
  ssl_client_s_dn: () => undefined,
  ssl_client_i_dn: () => undefined,
  ssl_client_s_dn_legacy: () => undefined,
  ssl_client_i_dn_legacy: () => undefined,
  ssl_client_serial: () => undefined,
  ssl_client_fingerprint: () => undefined,
  ssl_client_v_start: () => undefined,
  ssl_client_v_end: () => undefined,
  ssl_client_v_remain: () => undefined,
};

export function registerSslVariables(registry: VariableRegistry): void {
  for (const [name, get] of Object.entries(SSL)) {
    registry.define(name, (r: VariableSource) => (r.tls ? get(r.tls) || undefined : undefined));
  }
}

/** The names defined here, for the test of nginx's variable index. */
export const SSL_VARIABLES: readonly string[] = Object.keys(SSL);
