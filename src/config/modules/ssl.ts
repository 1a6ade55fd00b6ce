/**
 * ngx_http_ssl_module's directives that wsgate implements, and the merge step
 * that turns a server's settings into a TLS context (Node's
 * tls.createSecureContext), refusing what nginx refuses with nginx's words:
 * `cannot load certificate "…"`, `no "ssl_certificate_key" is defined for
 * certificate "…"`, `no "ssl_certificate" is defined for the "listen ... ssl"
 * directive in FILE:LINE`.
 */

import { readFileSync } from "node:fs";
import { constants, randomBytes } from "node:crypto";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { ConfigError, ERRNO_NUMBER, systemErrorText } from "../../core/errors.js";
import type { ServerConf, SrvConf } from "../model.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { resolveFromPrefix } from "../paths.js";
import { HTTP_MAIN_SRV, type DirectiveSpec } from "../table.js";
import { directiveError, parseFlag, parseTimeMs, setOnce, valueError } from "../values.js";
import { parseSizeValue } from "../../core/sizes.js";

/** ngx_http_ssl_module's settings, at http and server level. */
export interface SslSrvConf {
  /** ssl_certificate lines of the nearest level that has any: absolute paths; undefined: none. */
  sslCertificates: readonly string[] | undefined;
  sslCertificateKeys: readonly string[] | undefined;
  /** ssl_protocols: "SSLv2" … "TLSv1.3". */
  sslProtocols: readonly string[];
  sslCiphers: string;
  sslPreferServerCiphers: boolean;
  /** ssl_session_cache as written (accepted; see README "TLS"). */
  sslSessionCache: readonly string[] | undefined;
  sslSessionTimeoutMs: number;
  sslSessionTickets: boolean;
  /** ssl_dhparam: absolute path; undefined: none. */
  sslDhparam: string | undefined;
  sslEcdhCurve: string;
}

/** nginx 1.28's defaults (ngx_http_ssl_merge_srv_conf); Debian's 1.22 also enables TLSv1 and TLSv1.1. */
const SSL_DEFAULTS: SslSrvConf = {
  sslCertificates: undefined,
  sslCertificateKeys: undefined,
  sslProtocols: ["TLSv1.2", "TLSv1.3"],
  sslCiphers: "HIGH:!aNULL:!MD5",
  sslPreferServerCiphers: false,
  sslSessionCache: undefined,
  sslSessionTimeoutMs: 300_000,
  sslSessionTickets: true,
  sslDhparam: undefined,
  sslEcdhCurve: "auto",
};

const PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;

/** The ssl_* directives wsgate implements; the others stay refused by name. */
const SSL_DIRECTIVES: readonly DirectiveSpec[] = [
  pathArray("ssl_certificate", "sslCertificates"),
  pathArray("ssl_certificate_key", "sslCertificateKeys"),
  srv("ssl_protocols", "1more", (node, conf) => {
    // ngx_conf_set_bitmask_slot(): a second line adds to the first; a repeated value is a warning only.
    const set = new Set(conf.sslProtocols ?? []);
    for (const value of node.args) {
      if (!(PROTOCOLS as readonly string[]).includes(value)) throw valueError(node, `invalid value "${value}"`);
      set.add(value);
    }
    conf.sslProtocols = PROTOCOLS.filter((name) => set.has(name));
  }),
  srv("ssl_ciphers", [1], (node, conf) => setOnce(conf, "sslCiphers", node.args[0]!, node)),
  srv("ssl_ecdh_curve", [1], (node, conf) => setOnce(conf, "sslEcdhCurve", node.args[0]!, node)),
  srv("ssl_dhparam", [1], (node, conf, confPrefix) =>
    setOnce(conf, "sslDhparam", resolveFromPrefix(confPrefix, noVariables(node)), node),
  ),
  srv("ssl_prefer_server_ciphers", "flag", (node, conf) =>
    setOnce(conf, "sslPreferServerCiphers", parseFlag(node, node.args[0]!), node),
  ),
  srv("ssl_session_tickets", "flag", (node, conf) =>
    setOnce(conf, "sslSessionTickets", parseFlag(node, node.args[0]!), node),
  ),
  // ngx_conf_set_sec_slot(): seconds and larger units only.
  srv("ssl_session_timeout", [1], (node, conf) => {
    if (node.args[0]!.includes("ms")) throw directiveError(node, "invalid value");
    setOnce(conf, "sslSessionTimeoutMs", parseTimeMs(node, node.args[0]!), node);
  }),
  srv("ssl_session_cache", [1, 2], (node, conf) => {
    for (const value of node.args) checkSessionCache(node, value);
    conf.sslSessionCache = node.args;
  }),
];

export const SSL_MODULE: ConfModule<object, SslSrvConf> = {
  name: "ngx_http_ssl_module",
  directives: SSL_DIRECTIVES,
  createSrv: () => ({ ...SSL_DEFAULTS }),
  finalizeServers: (servers, { ticketKeys }) => finalizeSsl(servers, ticketKeys),
};

/** A server-level row of the ssl modules: its setter gets the server's slice and the configuration's directory. */
export function srv(
  name: string,
  args: DirectiveSpec["args"],
  set: (node: DirectiveNode, conf: Partial<SrvConf>, confPrefix: string) => void,
): DirectiveSpec {
  return {
    name,
    contexts: HTTP_MAIN_SRV,
    args,
    handle: (scope, node) => set(node, scope.srv!, scope.prefixes.confPrefix),
  };
}

/** ngx_conf_set_str_array_slot(): every line adds a path (relative to the configuration's directory). */
function pathArray(name: string, key: "sslCertificates" | "sslCertificateKeys"): DirectiveSpec {
  return srv(name, [1], (node, conf, confPrefix) => {
    conf[key] = [...(conf[key] ?? []), resolveFromPrefix(confPrefix, noVariables(node))];
  });
}

/** Certificates chosen per handshake by variables (nginx 1.15.9+) are not implemented. */
function noVariables(node: DirectiveNode): string {
  const value = node.args[0]!;
  if (/\$[{\w]/.test(value) || value.startsWith("data:")) {
    throw valueError(node, `variables and "data:" in "${node.name}" are not supported by wsgate`);
  }
  return value;
}

/** ngx_http_ssl_session_cache(): off, none, builtin[:size], shared:name:size (at least 8 pages). */
function checkSessionCache(node: DirectiveNode, value: string): void {
  if (value === "off" || value === "none" || value === "builtin") return;
  if (value.startsWith("builtin:") && value.length > 8) {
    if (/^\d+$/.test(value.slice(8))) return;
  } else if (value.startsWith("shared:") && value.length > 7) {
    const colon = value.indexOf(":", 7);
    if (colon > 7) {
      const size = value.slice(colon + 1);
      const bytes = parseSizeValue(size);
      if (bytes !== undefined) {
        if (bytes < 8 * 4096) throw valueError(node, `session cache "${value}" is too small`);
        return;
      }
    }
  }
  throw valueError(node, `invalid session cache "${value}"`);
}

/**
 * After the merge: a TLS context for every server with ssl_certificate (as
 * nginx loads them, whether or not the server listens with ssl), then the
 * check that every ssl address's default server has one.
 */
function finalizeSsl(servers: readonly ServerConf[], ticketKeys?: string): void {
  const contexts = new Map<string, SecureContext>();
  // Session tickets: one key set for every server (the master's, shared by its workers), so a ticket
  // resumes whichever server's certificate SNI chose and whichever worker gets the connection.
  const keys = ticketKeys !== undefined ? Buffer.from(ticketKeys, "hex") : randomBytes(48);
  for (const server of servers) {
    const srvConf = server.srv;
    if (!srvConf.sslCertificates) continue;
    const key = JSON.stringify(sslKey(srvConf));
    let context = contexts.get(key);
    if (!context) {
      context = buildContext(srvConf, keys);
      contexts.set(key, context);
    }
    server.secureContext = context;
  }
  checkSslListens(servers);
}

function sslKey(conf: SrvConf): SslSrvConf {
  const own: Record<string, unknown> = {};
  for (const name of Object.keys(SSL_DEFAULTS)) own[name] = conf[name as keyof SrvConf];
  return own as unknown as SslSrvConf;
}

/** ngx_http_ssl_init(): the default server of each `listen … ssl` address must have a certificate. */
function checkSslListens(servers: readonly ServerConf[]): void {
  const addresses = new Map<string, { ssl: boolean; servers: ServerConf[]; defaultServer?: ServerConf }>();
  for (const server of servers) {
    for (const listen of server.listens) {
      const entry = addresses.get(listen.text) ?? { ssl: false, servers: [] };
      addresses.set(listen.text, entry);
      entry.ssl ||= listen.ssl === true;
      if (!entry.servers.includes(server)) entry.servers.push(server);
      if (listen.defaultServer) entry.defaultServer = server;
    }
  }
  for (const entry of addresses.values()) {
    if (!entry.ssl) continue;
    const server = entry.defaultServer ?? entry.servers[0]!;
    if (server.srv.sslCertificates) continue;
    throw new ConfigError(
      "invalid-value",
      `no "ssl_certificate" is defined for the "listen ... ssl" directive in ${server.place.file}:${server.place.line}`,
    );
  }
}

function buildContext(conf: SrvConf, ticketKeys: Buffer): SecureContext {
  const certificates = conf.sslCertificates!;
  const keys = conf.sslCertificateKeys ?? [];
  if (keys.length < certificates.length) {
    fail(`no "ssl_certificate_key" is defined for certificate "${certificates[certificates.length - 1]}"`);
  }
  const cert: string[] = [];
  const key: string[] = [];
  for (let i = 0; i < certificates.length; i++) {
    const certPath = certificates[i]!;
    const keyPath = keys[i]!;
    const certPem = readPem(certPath, "certificate");
    tryContext({ cert: certPem }, (m) =>
      fail(
        `cannot load certificate "${certPath}": PEM_read_bio_X509_AUX() failed (SSL: ${m}:Expecting: TRUSTED CERTIFICATE)`,
      ),
    );
    const keyPem = readPem(keyPath, "certificate key");
    tryContext({ key: keyPem }, (m) =>
      fail(
        `cannot load certificate key "${keyPath}": PEM_read_bio_PrivateKey() failed (SSL: ${m}:No supported data to decode. Input type: PEM)`,
      ),
    );
    tryContext({ cert: certPem, key: keyPem }, (m) => fail(`SSL_CTX_use_PrivateKey("${keyPath}") failed (SSL: ${m})`));
    cert.push(certPem);
    key.push(keyPem);
  }
  const options: SecureContextOptions = { cert, key, ...protocolOptions(conf.sslProtocols) };
  tryContext({ ...options, ciphers: conf.sslCiphers }, (m) =>
    fail(`SSL_CTX_set_cipher_list("${conf.sslCiphers}") failed (SSL: ${m})`),
  );
  options.ciphers = conf.sslCiphers;
  options.honorCipherOrder = conf.sslPreferServerCiphers;
  options.sessionTimeout = conf.sslSessionTimeoutMs / 1000;
  options.ticketKeys = ticketKeys;
  if (!conf.sslSessionTickets) options.secureOptions = (options.secureOptions ?? 0) | constants.SSL_OP_NO_TICKET;
  if (conf.sslDhparam !== undefined) options.dhparam = readDhparam(conf.sslDhparam);
  if (conf.sslEcdhCurve !== "auto") {
    for (const group of conf.sslEcdhCurve.split(":")) {
      tryContext({ ecdhCurve: group }, () =>
        fail(
          `SSL_CTX_set1_curves_list("${conf.sslEcdhCurve}") failed (SSL: error:0A080106:SSL routines::passed invalid argument:group '${group}' cannot be set)`,
        ),
      );
    }
    options.ecdhCurve = conf.sslEcdhCurve;
  }
  let context: SecureContext | undefined;
  tryContext(
    options,
    (m) => fail(`SSL_CTX_new() failed (SSL: ${m})`),
    (made) => (context = made),
  );
  return context!;
}

/**
 * ssl_protocols as Node's range: the lowest and highest TLS versions named,
 * with the ones between that were left out switched off. SSLv2 and SSLv3 do
 * not exist in Node's OpenSSL build: they are accepted and have no effect.
 */
export function protocolOptions(protocols: readonly string[]): SecureContextOptions {
  const versions = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;
  const on = versions.filter((v) => protocols.includes(v));
  if (on.length === 0)
    return { minVersion: "TLSv1.3", maxVersion: "TLSv1.3", secureOptions: constants.SSL_OP_NO_TLSv1_3 };
  const low = versions.indexOf(on[0]!);
  const high = versions.indexOf(on[on.length - 1]!);
  const off = [constants.SSL_OP_NO_TLSv1, constants.SSL_OP_NO_TLSv1_1, constants.SSL_OP_NO_TLSv1_2, 0];
  let secureOptions = 0;
  for (let i = low; i <= high; i++) if (!on.includes(versions[i]!)) secureOptions |= off[i]!;
  return { minVersion: versions[low]!, maxVersion: versions[high]!, ...(secureOptions ? { secureOptions } : {}) };
}

/** The file's text, or nginx's BIO_new_file() failure as OpenSSL 3 words it. */
export function readPem(path: string, what: "certificate" | "certificate key"): string {
  try {
    return readFileSync(path, "latin1");
  } catch (err) {
    fail(`cannot load ${what} "${path}": ${bioFailure("BIO_new_file()", path, err)}`);
  }
}

function readDhparam(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (err) {
    fail(bioFailure(`BIO_new_file("${path}")`, path, err));
  }
  if (!text.includes("-----BEGIN DH PARAMETERS-----") && !text.includes("-----BEGIN X9.42 DH PARAMETERS-----")) {
    fail(
      `PEM_read_bio_DHparams("${path}") failed (SSL: error:0480006C:PEM routines::no start line:Expecting: DH PARAMETERS)`,
    );
  }
  // OpenSSL's default security level (2, Debian's too) refuses a prime under 2048 bits.
  const bits = dhPrimeBits(text);
  if (bits !== undefined && bits < 2048) {
    fail(`SSL_CTX_set_tmp_dh("${path}") failed (SSL: error:0A00018A:SSL routines::dh key too small)`);
  }
  return text;
}

/** The size of the prime of PEM DH parameters (DER: SEQUENCE { INTEGER p, INTEGER g … }). */
function dhPrimeBits(pem: string): number | undefined {
  const body = /-----BEGIN (?:X9\.42 )?DH PARAMETERS-----([^-]*)-----END/.exec(pem)?.[1];
  if (body === undefined) return undefined;
  const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
  let at = 0;
  const length = (): number => {
    const first = der[at++] ?? 0;
    if (first < 0x80) return first;
    let value = 0;
    for (let i = 0; i < (first & 0x7f); i++) value = value * 256 + (der[at++] ?? 0);
    return value;
  };
  if (der[at++] !== 0x30) return undefined;
  length();
  if (der[at++] !== 0x02) return undefined;
  let size = length();
  while (size > 0 && der[at] === 0) {
    at++;
    size--;
  }
  if (size === 0 || at >= der.length) return undefined;
  return (size - 1) * 8 + (32 - Math.clz32(der[at]!));
}

export function bioFailure(call: string, path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  const errno = ERRNO_NUMBER[code] ?? Math.abs((err as NodeJS.ErrnoException).errno ?? 0);
  const reason = systemErrorText(err).replace(/^\d+: /, "");
  const system = `error:8000${errno.toString(16).toUpperCase().padStart(4, "0")}:system library::${reason}:calling fopen(${path}, r)`;
  const bio =
    code === "ENOENT" ? "error:10000080:BIO routines::no such file" : "error:10080002:BIO routines::system lib";
  return `${call} failed (SSL: ${system} ${bio})`;
}

export function tryContext(
  options: SecureContextOptions,
  onError: (message: string) => void,
  onMade?: (context: SecureContext) => void,
): void {
  let made: SecureContext;
  try {
    made = createSecureContext(options);
  } catch (err) {
    onError(opensslMessage(err));
    return;
  }
  onMade?.(made);
}

/** "error:0A0000B9:SSL routines::no cipher match", as nginx prints OpenSSL's queue. */
function opensslMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const match = /error:[0-9A-Fa-f]{8}:[^:]*:[^:]*:[^:\n]*/.exec(message);
  return match ? match[0] : message;
}

/** Errors found while merging have no place in nginx's message (ngx_log_error on cf->log). */
export function fail(message: string): never {
  throw new ConfigError("invalid-value", message);
}
