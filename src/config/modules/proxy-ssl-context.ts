/**
 * The pieces of a client TLS context for https upstreams, each loaded as
 * nginx's ngx_event_openssl.c loads it and refused with its words:
 * ngx_ssl_certificate() (the client certificate and key, with
 * proxy_ssl_password_file's passphrases), SSL_CTX_set_cipher_list(),
 * ngx_ssl_trusted_certificate() and ngx_ssl_crl(). Used after the merge and,
 * for a client certificate with variables, per connection.
 */

import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import { bioFailure, fail, readPem, tryContext } from "./ssl.js";

/** `data:` carries the PEM text itself (nginx 1.15.10+); anything else is a file. */
function pemOf(value: string, what: "certificate" | "certificate key"): string {
  return value.startsWith("data:") ? value.slice(5) : readPem(value, what);
}

/** ngx_ssl_certificate(): the certificate, then the key with each passphrase in turn. */
export function loadClientCertificate(
  certificate: string,
  key: string,
  passwords: readonly string[] | undefined,
): SecureContextOptions {
  const cert = pemOf(certificate, "certificate");
  if (!/-----BEGIN (TRUSTED )?CERTIFICATE-----/.test(cert)) {
    fail(
      `cannot load certificate "${certificate}": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)`,
    );
  }
  tryContext({ cert }, (m) =>
    fail(`cannot load certificate "${certificate}": PEM_read_bio_X509_AUX() failed (SSL: ${m})`),
  );
  const keyPem = pemOf(key, "certificate key");
  let lastError = "";
  for (const passphrase of passwords ?? [undefined]) {
    let loaded = false;
    tryContext(
      passphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase },
      (m) => (lastError = m),
      () => (loaded = true),
    );
    if (!loaded) continue;
    const options: SecureContextOptions =
      passphrase === undefined ? { cert, key: keyPem } : { cert, key: keyPem, passphrase };
    tryContext(options, (m) => fail(`SSL_CTX_use_PrivateKey("${key}") failed (SSL: ${m})`));
    return options;
  }
  return fail(`cannot load certificate key "${key}": PEM_read_bio_PrivateKey() failed (SSL: ${lastError})`);
}

/** SSL_CTX_set_cipher_list() as nginx reports it. */
export function tryCiphers(ciphers: string, options: SecureContextOptions): void {
  tryContext({ ...options, ciphers }, (m) => fail(`SSL_CTX_set_cipher_list("${ciphers}") failed (SSL: ${m})`));
}

/** ngx_ssl_trusted_certificate() and ngx_ssl_crl(): the CA file (and CRL file) checked against. */
export function loadTrust(trusted: string, crlPath: string | undefined): SecureContextOptions {
  const ca = readTrustFile(trusted, `SSL_CTX_load_verify_locations("${trusted}")`);
  if (!/-----BEGIN (TRUSTED |X509 )?CERTIFICATE-----|-----BEGIN X509 CRL-----/.test(ca)) {
    fail(
      `SSL_CTX_load_verify_locations("${trusted}") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)`,
    );
  }
  tryContext({ ca }, (m) => fail(`SSL_CTX_load_verify_locations("${trusted}") failed (SSL: ${m})`));
  if (crlPath === undefined) return { ca };
  const crl = readTrustFile(crlPath, `X509_LOOKUP_load_file("${crlPath}")`);
  tryContext({ ca, crl }, (m) => fail(`X509_LOOKUP_load_file("${crlPath}") failed (SSL: ${m})`));
  return { ca, crl };
}

/** The file's text, or the call's failure with OpenSSL's x509 "system lib" after the BIO error. */
function readTrustFile(path: string, call: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch (err) {
    const bio = bioFailure(call, path, err).replace(/\)$/, "");
    return fail(`${bio} error:05880002:x509 certificate routines::system lib)`);
  }
}
