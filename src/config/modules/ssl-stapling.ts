/**
 * OCSP stapling (ngx_http_ssl_module's ssl_stapling, ssl_stapling_file,
 * ssl_stapling_responder, ssl_stapling_verify, and ssl_trusted_certificate)
 * and the step after the merge that nginx's ngx_ssl_stapling() is, per
 * certificate: with ssl_stapling_file, its DER OCSP response is what a
 * client asking for the certificate's status gets; without it, nginx's
 * warnings when the certificate's issuer or OCSP responder is not found.
 *
 * Fetching responses from a responder is not implemented: where nginx would
 * ask the responder, wsgate staples nothing (as nginx until its first answer).
 */

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServerConf, SrvConf } from "../model.js";
import type { ConfModule } from "../module.js";
import { resolveFromPrefix } from "../paths.js";
import type { DirectiveSpec } from "../table.js";
import { parseFlag, setOnce } from "../values.js";
import { loadTrust } from "./proxy-ssl-context.js";
import { bioFailure, fail, srv } from "./ssl.js";

export interface SslStaplingSrvConf {
  sslStapling: boolean;
  sslStaplingVerify: boolean;
  /** ssl_stapling_file, ssl_stapling_responder, ssl_trusted_certificate as written (paths absolute). */
  sslStaplingFile: string | undefined;
  sslStaplingResponder: string | undefined;
  sslTrustedCertificate: string | undefined;
  /** Made after the merge: the response to staple, by the certificate's DER in base64. */
  sslStaples: ReadonlyMap<string, Buffer> | undefined;
}

const DIRECTIVES: readonly DirectiveSpec[] = [
  srv("ssl_stapling", "flag", (node, conf) => setOnce(conf, "sslStapling", parseFlag(node, node.args[0]!), node)),
  srv("ssl_stapling_verify", "flag", (node, conf) =>
    setOnce(conf, "sslStaplingVerify", parseFlag(node, node.args[0]!), node),
  ),
  srv("ssl_stapling_file", [1], (node, conf, prefix) =>
    setOnce(conf, "sslStaplingFile", resolveFromPrefix(prefix, node.args[0]!), node),
  ),
  srv("ssl_stapling_responder", [1], (node, conf) => setOnce(conf, "sslStaplingResponder", node.args[0]!, node)),
  srv("ssl_trusted_certificate", [1], (node, conf, prefix) =>
    setOnce(conf, "sslTrustedCertificate", resolveFromPrefix(prefix, node.args[0]!), node),
  ),
];

export const SSL_STAPLING_MODULE: ConfModule<object, SslStaplingSrvConf> = {
  name: "ngx_http_ssl_module (stapling)",
  directives: DIRECTIVES,
  createSrv: () => ({
    sslStapling: false,
    sslStaplingVerify: false,
    sslStaplingFile: undefined,
    sslStaplingResponder: undefined,
    sslTrustedCertificate: undefined,
    sslStaples: undefined,
  }),
  mergeSrv: (own) => ({ sslStaples: own.sslStaples }),
  finalizeServers: (servers, { http }) => {
    for (const server of servers) finalizeStapling(server, http.warnings);
  },
};

/** ngx_http_ssl_merge_srv_conf(): the trusted certificates are read, then ngx_ssl_stapling() per certificate. */
function finalizeStapling(server: ServerConf, warnings: string[] | undefined): void {
  const conf = server.srv;
  if (!conf.sslCertificates) return;
  const trusted = conf.sslTrustedCertificate !== undefined ? loadTrust(conf.sslTrustedCertificate, undefined).ca : "";
  if (!conf.sslStapling) return;
  const staples = new Map<string, Buffer>();
  const response = conf.sslStaplingFile !== undefined ? readResponse(conf.sslStaplingFile) : undefined;
  for (const path of conf.sslCertificates) {
    const chain = certificates(readFileSync(path, "latin1"));
    const leaf = chain[0];
    if (!leaf) continue;
    if (response) {
      staples.set(leaf.raw.toString("base64"), response);
      continue;
    }
    const warning = responderProblem(path, leaf, [...chain.slice(1), ...certificates(String(trusted))], conf);
    if (warning) warnings?.push(warning);
  }
  if (staples.size > 0) conf.sslStaples = staples;
}

/** ngx_ssl_stapling_issuer() and ngx_ssl_stapling_responder(): what stops stapling, in nginx's words. */
function responderProblem(
  path: string,
  leaf: X509Certificate,
  candidates: readonly X509Certificate[],
  conf: SrvConf,
): string | undefined {
  if (!candidates.some((issuer) => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey))) {
    return `"ssl_stapling" ignored, issuer certificate not found for certificate "${path}"`;
  }
  const url = conf.sslStaplingResponder ?? /OCSP - URI:(\S+)/.exec(leaf.infoAccess ?? "")?.[1];
  if (url === undefined) return `"ssl_stapling" ignored, no OCSP responder URL in the certificate "${path}"`;
  if (!/^http:\/\//i.test(url)) {
    return `"ssl_stapling" ignored, invalid URL prefix in OCSP responder "${url}" in the certificate "${path}"`;
  }
  return undefined;
}

/** ngx_ssl_stapling_file(): a DER OCSPResponse (SEQUENCE, then the ENUMERATED responseStatus). */
function readResponse(path: string): Buffer {
  let der: Buffer;
  try {
    der = readFileSync(path);
  } catch (err) {
    return fail(bioFailure(`BIO_new_file("${path}")`, path, err).replace(", r)", ", rb)"));
  }
  if (der[0] !== 0x30 || !enumeratedAfterHeader(der)) {
    fail(
      `d2i_OCSP_RESPONSE_bio("${path}") failed (SSL: error:068000A8:asn1 encoding routines::wrong tag error:0688010A:asn1 encoding routines::nested asn1 error:Type=OCSP_RESPONSE)`,
    );
  }
  return der;
}

function enumeratedAfterHeader(der: Buffer): boolean {
  const first = der[1] ?? 0;
  const lengthBytes = first < 0x80 ? 0 : first & 0x7f;
  return der[2 + lengthBytes] === 0x0a;
}

function certificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const parsed: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      parsed.push(new X509Certificate(block));
    } catch {
      // A block OpenSSL could not read was refused when the certificate was loaded.
    }
  }
  return parsed;
}
