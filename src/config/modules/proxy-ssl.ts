/**
 * ngx_http_proxy_module's proxy_ssl_* directives (TLS to `proxy_pass https://`
 * upstreams), with nginx 1.28's defaults and merge, and the step after the
 * merge that nginx's ngx_http_proxy_set_ssl() is: for every location whose
 * proxy_pass is https (or has variables, so may be), a client TLS context
 * is made, refusing what nginx refuses with nginx's words.
 *
 * proxy_ssl_conf_command (OpenSSL's SSL_CONF_cmd, which Node does not
 * expose) and proxy_ssl_certificate_cache stay refused by name.
 */

import { readFileSync } from "node:fs";
import type { SecureContext, SecureContextOptions } from "node:tls";
import { systemErrorText } from "../../core/errors.js";
import { ComplexValue } from "../../vars/complex-value.js";
import type { VariableRegistry } from "../../vars/registry.js";
import type { LocationConf, LocConf, ServerConf } from "../model.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { resolveFromPrefix } from "../paths.js";
import { HTTP_CONTEXTS, placeOf, type DirectiveSpec } from "../table.js";
import { directiveError, locFlag, parseNumber, setOnce, valueError } from "../values.js";
import { loadClientCertificate, loadTrust, tryCiphers } from "./proxy-ssl-context.js";
import { protocolOptions, tryContext, fail } from "./ssl.js";

export interface ProxySslLocConf {
  /** proxy_ssl_session_reuse (on). */
  proxySslSessionReuse: boolean;
  /** proxy_ssl_protocols: nginx 1.28's default is TLSv1.2 TLSv1.3. */
  proxySslProtocols: readonly string[];
  /** proxy_ssl_ciphers (DEFAULT). */
  proxySslCiphers: string;
  /** proxy_ssl_name; undefined: the host of proxy_pass. */
  proxySslName: ComplexValue | undefined;
  /** proxy_ssl_server_name (off: no SNI). */
  proxySslServerName: boolean;
  /** proxy_ssl_verify (off). */
  proxySslVerify: boolean;
  /** proxy_ssl_verify_depth (1). */
  proxySslVerifyDepth: number;
  /** proxy_ssl_trusted_certificate, proxy_ssl_crl: absolute paths. */
  proxySslTrustedCertificate: string | undefined;
  proxySslCrl: string | undefined;
  /** proxy_ssl_certificate, proxy_ssl_certificate_key (variables allowed, as nginx 1.21.0+). */
  proxySslCertificate: ComplexValue | undefined;
  proxySslCertificateKey: ComplexValue | undefined;
  /** proxy_ssl_password_file's lines. */
  proxySslPasswords: readonly string[] | undefined;
  /** Made after the merge for a location that proxies to https; undefined elsewhere. */
  proxySslClient: ProxySslClient | undefined;
}

/** What a location's connections to https upstreams share (nginx's plcf->upstream.ssl). */
export interface ProxySslClient {
  /** Protocols, ciphers, trust, CRL, and the client certificate when it has no variables. */
  readonly context: SecureContext;
  /** Where a client certificate with variables starts from (its file is read per connection). */
  readonly options: SecureContextOptions;
  /** Contexts made for a certificate and key evaluated per request, by their paths. */
  readonly certificateContexts: Map<string, SecureContext>;
}

const PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;

const PROXY_SSL_DIRECTIVES: readonly DirectiveSpec[] = [
  locFlag("proxy_ssl_session_reuse", "proxySslSessionReuse"),
  {
    // ngx_conf_set_bitmask_slot(): a second line at a level adds to the first.
    name: "proxy_ssl_protocols",
    contexts: HTTP_CONTEXTS,
    args: "1more",
    handle: (scope, node) => {
      const set = new Set(scope.loc!.proxySslProtocols ?? []);
      for (const value of node.args) {
        if (!(PROTOCOLS as readonly string[]).includes(value)) throw valueError(node, `invalid value "${value}"`);
        set.add(value);
      }
      scope.loc!.proxySslProtocols = PROTOCOLS.filter((name) => set.has(name));
    },
  },
  loc("proxy_ssl_ciphers", (node, conf) => setOnce(conf, "proxySslCiphers", node.args[0]!, node)),
  loc("proxy_ssl_name", (node, conf, scope) =>
    setOnce(conf, "proxySslName", ComplexValue.compile(node.args[0]!, scope.registry, placeOf(node)), node),
  ),
  locFlag("proxy_ssl_server_name", "proxySslServerName"),
  locFlag("proxy_ssl_verify", "proxySslVerify"),
  loc("proxy_ssl_verify_depth", (node, conf) =>
    setOnce(conf, "proxySslVerifyDepth", parseNumber(node, node.args[0]!), node),
  ),
  loc("proxy_ssl_trusted_certificate", (node, conf, scope) =>
    setOnce(conf, "proxySslTrustedCertificate", resolveFromPrefix(scope.confPrefix, node.args[0]!), node),
  ),
  loc("proxy_ssl_crl", (node, conf, scope) =>
    setOnce(conf, "proxySslCrl", resolveFromPrefix(scope.confPrefix, node.args[0]!), node),
  ),
  loc("proxy_ssl_certificate", (node, conf, scope) =>
    setOnce(conf, "proxySslCertificate", certificatePath(node, scope), node),
  ),
  loc("proxy_ssl_certificate_key", (node, conf, scope) =>
    setOnce(conf, "proxySslCertificateKey", certificatePath(node, scope), node),
  ),
  loc("proxy_ssl_password_file", (node, conf, scope) => {
    if (conf.proxySslPasswords !== undefined) throw directiveError(node, "is duplicate");
    conf.proxySslPasswords = readPasswords(node, resolveFromPrefix(scope.confPrefix, node.args[0]!));
  }),
];

export const PROXY_SSL_MODULE: ConfModule<ProxySslLocConf> = {
  name: "ngx_http_proxy_module (ssl)",
  directives: PROXY_SSL_DIRECTIVES,
  createLoc: () => ({
    proxySslSessionReuse: true,
    proxySslProtocols: ["TLSv1.2", "TLSv1.3"],
    proxySslCiphers: "DEFAULT",
    proxySslName: undefined,
    proxySslServerName: false,
    proxySslVerify: false,
    proxySslVerifyDepth: 1,
    proxySslTrustedCertificate: undefined,
    proxySslCrl: undefined,
    proxySslCertificate: undefined,
    proxySslCertificateKey: undefined,
    proxySslPasswords: undefined,
    proxySslClient: undefined,
  }),
  // The client is made for each level that needs one; it is not inherited.
  mergeLoc: (own) => ({ proxySslClient: own.proxySslClient }),
  finalizeServers: (servers) => makeClients(servers),
};

interface LocScope {
  readonly registry: VariableRegistry;
  readonly confPrefix: string;
}

function loc(name: string, set: (node: DirectiveNode, conf: Partial<LocConf>, scope: LocScope) => void): DirectiveSpec {
  return {
    name,
    contexts: HTTP_CONTEXTS,
    args: [1],
    handle: (scope, node) =>
      set(node, scope.loc!, { registry: scope.http!.registry, confPrefix: scope.prefixes.confPrefix }),
  };
}

/** ngx_ssl_read_password_file(): every line is a passphrase to try, in order. */
function readPasswords(node: DirectiveNode, path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (err) {
    throw valueError(node, `open() "${path}" failed (${systemErrorText(err)})`);
  }
  const lines = text.split("\n").map((line) => line.replace(/[\r ]+$/, ""));
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw valueError(node, `empty file "${path}"`);
  return lines;
}

/**
 * A certificate path with or without variables: a relative one is taken from
 * the configuration's directory (ngx_get_full_name() at load or per request);
 * `data:` and a value that starts with a variable are left as they are.
 */
function certificatePath(node: DirectiveNode, scope: LocScope): ComplexValue {
  const value = node.args[0]!;
  const path =
    value === "" || value.startsWith("$") || value.startsWith("data:")
      ? value
      : resolveFromPrefix(scope.confPrefix, value);
  return ComplexValue.compile(path, scope.registry, placeOf(node));
}

/**
 * ngx_http_proxy_merge_loc_conf() → ngx_http_proxy_set_ssl(): every location
 * whose proxy_pass is https or has variables gets a client context; locations
 * with the same settings share one (and so their TLS session caches).
 */
function makeClients(servers: readonly ServerConf[]): void {
  const made = new Map<string, ProxySslClient>();
  const visit = (location: LocationConf): void => {
    const pass = location.proxyPass;
    if (pass && (pass.scheme === "https" || pass.dynamic)) {
      const key = clientKey(location.loc);
      let client = made.get(key);
      if (!client) {
        client = makeClient(location.loc);
        made.set(key, client);
      }
      location.loc.proxySslClient = client;
    }
    for (const child of location.locations) visit(child);
  };
  for (const server of servers) for (const location of server.locations) visit(location);
}

function clientKey(conf: LocConf): string {
  return JSON.stringify([
    conf.proxySslProtocols,
    conf.proxySslCiphers,
    conf.proxySslVerify,
    conf.proxySslVerify ? [conf.proxySslTrustedCertificate, conf.proxySslCrl, conf.proxySslVerifyDepth] : [],
    conf.proxySslCertificate?.source,
    conf.proxySslCertificateKey?.source,
    conf.proxySslPasswords,
  ]);
}

/** ngx_http_proxy_set_ssl(), in its order: certificate, ciphers, then trust when verifying. */
function makeClient(conf: LocConf): ProxySslClient {
  const options: SecureContextOptions = { ...protocolOptions(conf.proxySslProtocols) };
  const certificate = conf.proxySslCertificate;
  const key = conf.proxySslCertificateKey;
  let clientCertificate: SecureContextOptions = {};
  if (certificate && certificate.source !== "") {
    if (!key || key.source === "") {
      fail(`no "proxy_ssl_certificate_key" is defined for certificate "${certificate.source}"`);
    }
    if (!hasVariables(certificate.source) && !hasVariables(key.source)) {
      clientCertificate = loadClientCertificate(certificate.source, key.source, conf.proxySslPasswords);
    }
  }
  tryCiphers(conf.proxySslCiphers, options);
  options.ciphers = conf.proxySslCiphers;
  if (conf.proxySslVerify) {
    if (conf.proxySslTrustedCertificate === undefined) fail("no proxy_ssl_trusted_certificate for proxy_ssl_verify");
    Object.assign(options, loadTrust(conf.proxySslTrustedCertificate, conf.proxySslCrl));
  }
  let context: SecureContext | undefined;
  tryContext(
    { ...options, ...clientCertificate },
    (m) => fail(`SSL_CTX_new() failed (SSL: ${m})`),
    (made) => (context = made),
  );
  return { context: context!, options, certificateContexts: new Map() };
}

export function hasVariables(value: string): boolean {
  return /\$[{\w]/.test(value);
}
