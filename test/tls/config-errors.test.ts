/**
 * The ssl directives' refusals, each compared with what `nginx -t` prints
 * for the same file: certificates missing or unreadable, keys missing,
 * values nginx refuses, and the directives' contexts and duplicates.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { makeCerts, opensslSkip, type TestCerts } from "./certs.js";

const skip = opensslSkip();

/** A file whose server (line 4) listens with ssl; `http` at line 2, `server` inside the server block (line 6). */
function file(http: string, server: string): string {
  return `events {}\nhttp {\n  ${http}\n  server {\n    listen 127.0.0.1:18443 ssl;\n    ${server}\n  }\n}\n`;
}

describe("ssl directives: configuration errors as nginx -t", { skip }, () => {
  let certs: TestCerts;
  let prefix: string;
  before(() => {
    certs = makeCerts();
    prefix = makeTempDir("tls-config");
    mkdirSync(join(prefix, "logs"));
    // Relative certificate paths are taken from the main file's directory.
    for (const name of ["a.test.crt", "a.test.key"]) copyFileSync(join(certs.dir, name), join(prefix, name));
    execFileSync("openssl", ["dhparam", "-dsaparam", "-out", join(prefix, "dh1024.pem"), "1024"], {
      stdio: "ignore",
      timeout: 20_000,
    });
  });
  after(() => {
    certs?.remove();
    removeTempDir(prefix);
  });

  const pair = (): string => `ssl_certificate a.test.crt; ssl_certificate_key a.test.key;`;
  const cases = (): Array<[string, string, string, (confFile: string) => string]> => [
    [
      "no certificate for a listen … ssl",
      "",
      "",
      (f) => `no "ssl_certificate" is defined for the "listen ... ssl" directive in ${f}:4`,
    ],
    [
      "the default server of the address has none, another one has",
      "",
      `}\n  server { listen 127.0.0.1:18443 ssl default_server; }\n  server { listen 127.0.0.1:18443; ${pair()}`,
      (f) => `no "ssl_certificate" is defined for the "listen ... ssl" directive in ${f}:7`,
    ],
    [
      "a certificate without its key",
      `ssl_certificate ${certs.aCrt};`,
      "",
      () => `no "ssl_certificate_key" is defined for certificate "${certs.aCrt}"`,
    ],
    [
      "a certificate that does not exist (relative to the configuration's directory)",
      "ssl_certificate nope.crt; ssl_certificate_key a.test.key;",
      "",
      () =>
        `cannot load certificate "${prefix}/nope.crt": BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${prefix}/nope.crt, r) error:10000080:BIO routines::no such file)`,
    ],
    [
      "a key given as the certificate",
      `ssl_certificate ${certs.aKey}; ssl_certificate_key ${certs.aKey};`,
      "",
      () =>
        `cannot load certificate "${certs.aKey}": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)`,
    ],
    [
      "a certificate given as the key",
      `ssl_certificate ${certs.aCrt}; ssl_certificate_key ${certs.aCrt};`,
      "",
      () =>
        `cannot load certificate key "${certs.aCrt}": PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)`,
    ],
    ["an unknown protocol", `${pair()} ssl_protocols TLSv1.2 TLSv9;`, "", (f) => `invalid value "TLSv9" in ${f}:3`],
    [
      "an unknown session cache",
      `${pair()} ssl_session_cache foo;`,
      "",
      (f) => `invalid session cache "foo" in ${f}:3`,
    ],
    [
      "a shared session cache under 8 pages",
      `${pair()} ssl_session_cache shared:SSL:1k;`,
      "",
      (f) => `session cache "shared:SSL:1k" is too small in ${f}:3`,
    ],
    [
      "a cipher string matching nothing",
      `${pair()} ssl_ciphers FOO;`,
      "",
      () => `SSL_CTX_set_cipher_list("FOO") failed (SSL: error:0A0000B9:SSL routines::no cipher match)`,
    ],
    [
      "DH parameters that do not exist",
      `${pair()} ssl_dhparam dh.pem;`,
      "",
      () =>
        `BIO_new_file("${prefix}/dh.pem") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${prefix}/dh.pem, r) error:10000080:BIO routines::no such file)`,
    ],
    [
      "DH parameters that are not",
      `${pair()} ssl_dhparam a.test.crt;`,
      "",
      () =>
        `PEM_read_bio_DHparams("${prefix}/a.test.crt") failed (SSL: error:0480006C:PEM routines::no start line:Expecting: DH PARAMETERS)`,
    ],
    [
      "DH parameters under 2048 bits",
      `${pair()} ssl_dhparam dh1024.pem;`,
      "",
      () => `SSL_CTX_set_tmp_dh("${prefix}/dh1024.pem") failed (SSL: error:0A00018A:SSL routines::dh key too small)`,
    ],
    [
      "ssl_session_timeout in milliseconds",
      `${pair()} ssl_session_timeout 500ms;`,
      "",
      (f) => `"ssl_session_timeout" directive invalid value in ${f}:3`,
    ],
    [
      "an unknown curve",
      `${pair()} ssl_ecdh_curve X25519:foo;`,
      "",
      () =>
        `SSL_CTX_set1_curves_list("X25519:foo") failed (SSL: error:0A080106:SSL routines::passed invalid argument:group 'foo' cannot be set)`,
    ],
    [
      "ssl_dhparam twice at one level",
      pair(),
      "ssl_dhparam a; ssl_dhparam b;",
      (f) => `"ssl_dhparam" directive is duplicate in ${f}:6`,
    ],
    [
      "ssl_prefer_server_ciphers maybe",
      `${pair()} ssl_prefer_server_ciphers maybe;`,
      "",
      (f) => `invalid value "maybe" in "ssl_prefer_server_ciphers" directive, it must be "on" or "off" in ${f}:3`,
    ],
    [
      "ssl_certificate in a location",
      pair(),
      `location / { ssl_certificate a.test.crt; }`,
      (f) => `"ssl_certificate" directive is not allowed here in ${f}:6`,
    ],
    [
      "ssl_session_timeout with a bad time",
      `${pair()} ssl_session_timeout 1x;`,
      "",
      (f) => `"ssl_session_timeout" directive invalid value in ${f}:3`,
    ],
  ];

  test("every refusal, with nginx -t's words", async () => {
    const confFile = join(prefix, "nginx.conf");
    for (const [name, http, server, expected] of cases()) {
      writeTree(prefix, { "nginx.conf": file(http, server) });
      const message = expected(confFile);
      await assert.rejects(loadConfig({ prefix, confFile }), (err: Error) => {
        assert.equal(err.message, message, name);
        return true;
      });
      const nginx = nginxTest({ prefix, confFile, globals: "pid logs/nginx.pid; error_log stderr;" });
      if (nginx) assert.equal(nginx.emerg, message, `${name}: ${nginx.stderr}`);
    }
  });

  test("accepted as nginx accepts them: several pairs, sessions, curves, protocols", async () => {
    const confFile = join(prefix, "nginx.conf");
    const http =
      `ssl_certificate a.test.crt; ssl_certificate_key a.test.key; ` +
      `ssl_certificate ${certs.bCrt}; ssl_certificate_key ${certs.bKey}; ` +
      `ssl_protocols TLSv1.2; ssl_protocols TLSv1.3; ssl_ciphers HIGH:!aNULL; ssl_prefer_server_ciphers on; ` +
      `ssl_session_cache shared:SSL:10m builtin:1000; ssl_session_cache off; ssl_session_timeout 1d; ` +
      `ssl_session_tickets off; ssl_ecdh_curve X25519:prime256v1;`;
    writeTree(prefix, { "nginx.conf": file(http, `}\n  server { listen 127.0.0.1:18443 ssl; server_name other;`) });
    const config = await loadConfig({ prefix, confFile });
    const [first, second] = config.http!.servers;
    assert.ok(first!.secureContext, "a TLS context for the server");
    assert.equal(second!.secureContext, first!.secureContext, "servers with the same settings share it");
    assert.deepEqual(first!.srv.sslProtocols, ["TLSv1.2", "TLSv1.3"]);
    assert.equal(first!.srv.sslSessionTimeoutMs, 86_400_000);
    const nginx = nginxTest({ prefix, confFile, globals: "pid logs/nginx.pid; error_log stderr;" });
    if (nginx) assert.equal(nginx.status, 0, nginx.stderr);
  });

  test("certificates chosen by variables are refused by name (wsgate)", async () => {
    const confFile = join(prefix, "nginx.conf");
    writeTree(prefix, { "nginx.conf": file("ssl_certificate $ssl_server_name.crt; ssl_certificate_key a.key;", "") });
    await assert.rejects(loadConfig({ prefix, confFile }), (err: Error) => {
      assert.equal(
        err.message,
        `variables and "data:" in "ssl_certificate" are not supported by wsgate in ${confFile}:3`,
      );
      return true;
    });
  });
});
