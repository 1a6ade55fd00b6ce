/**
 * The proxy_ssl_* directives and `proxy_pass https://` in the configuration,
 * against `nginx -t`: the same file gives the same [emerg] line (or none) —
 * the directives' argument and duplicate checks, and the checks nginx makes
 * when a location proxies to https (ngx_http_proxy_set_ssl: the client
 * certificate and key, the ciphers, the trusted certificates and CRL for
 * proxy_ssl_verify), which a location proxying to http does not make.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../cli/run-cli.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { opensslSkip } from "../tls/certs.js";
import { makePki, type TestPki } from "../support/test-pki.js";
import { expectNginxVerdicts } from "../support/test-both.js";

describe("proxy_ssl_* in the configuration, against nginx -t", { skip: opensslSkip() }, () => {
  let prefix: string;
  let pki: TestPki;
  before(() => {
    prefix = makeTempDir("proxy-ssl");
    writeTree(prefix, { "logs/.keep": "", passwords: "secret\n", empty: "" });
    pki = makePki();
  });
  after(() => {
    removeTempDir(prefix);
    pki.remove();
  });

  /** [the location's inside, the [emerg] text expected (FILE and LINE for the place), or undefined]. */
  const upstream = "upstream backend { server 127.0.0.1:1; }";
  const cases = (): Array<[string, string | undefined]> => [
    ["proxy_pass https://127.0.0.1:1;", undefined],
    ["proxy_pass https://127.0.0.1:1/x/;", undefined],
    ["proxy_pass https://$host;", undefined],
    [
      `proxy_pass https://127.0.0.1:1; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.ca.crt}; ` +
        `proxy_ssl_verify_depth 3; proxy_ssl_name $host; proxy_ssl_server_name on; proxy_ssl_session_reuse off; ` +
        `proxy_ssl_protocols TLSv1.2; proxy_ssl_protocols TLSv1.3; proxy_ssl_ciphers HIGH:!aNULL; ` +
        `proxy_ssl_certificate ${pki.client.crt}; proxy_ssl_certificate_key ${pki.client.key}; ` +
        `proxy_ssl_password_file passwords;`,
      undefined,
    ],
    ["proxy_ssl_verify on; proxy_pass https://127.0.0.1:1;", "no proxy_ssl_trusted_certificate for proxy_ssl_verify"],
    ["proxy_ssl_verify on; proxy_pass https://$host;", "no proxy_ssl_trusted_certificate for proxy_ssl_verify"],
    // Only a location that proxies to https (or with variables) makes the checks.
    ["proxy_ssl_verify on; proxy_pass http://127.0.0.1:1;", undefined],
    [`proxy_ssl_certificate ${pki.client.crt}; proxy_pass http://127.0.0.1:1;`, undefined],
    [
      `proxy_ssl_certificate ${pki.client.crt}; proxy_pass https://127.0.0.1:1;`,
      `no "proxy_ssl_certificate_key" is defined for certificate "${pki.client.crt}"`,
    ],
    [
      `proxy_ssl_certificate ${pki.dir}/none.crt; proxy_ssl_certificate_key ${pki.client.key}; proxy_pass https://127.0.0.1:1;`,
      `cannot load certificate "${pki.dir}/none.crt": BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${pki.dir}/none.crt, r) error:10000080:BIO routines::no such file)`,
    ],
    [
      `proxy_ssl_certificate ${pki.client.key}; proxy_ssl_certificate_key ${pki.client.key}; proxy_pass https://127.0.0.1:1;`,
      `cannot load certificate "${pki.client.key}": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)`,
    ],
    [
      `proxy_ssl_certificate ${pki.dir}/$host.crt; proxy_ssl_certificate_key ${pki.client.key}; proxy_pass https://127.0.0.1:1;`,
      undefined,
    ],
    [
      "proxy_ssl_ciphers NOSUCHCIPHER; proxy_pass https://127.0.0.1:1;",
      `SSL_CTX_set_cipher_list("NOSUCHCIPHER") failed (SSL: error:0A0000B9:SSL routines::no cipher match)`,
    ],
    [
      `proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.dir}/none.crt; proxy_pass https://127.0.0.1:1;`,
      `SSL_CTX_load_verify_locations("${pki.dir}/none.crt") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${pki.dir}/none.crt, r) error:10000080:BIO routines::no such file error:05880002:x509 certificate routines::system lib)`,
    ],
    [
      `proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.ca.key}; proxy_pass https://127.0.0.1:1;`,
      `SSL_CTX_load_verify_locations("${pki.ca.key}") failed (SSL: error:05800088:x509 certificate routines::no certificate or crl found)`,
    ],
    // Without proxy_ssl_verify the trusted certificates and the CRL are not read.
    [`proxy_ssl_trusted_certificate ${pki.dir}/none.crt; proxy_pass https://127.0.0.1:1;`, undefined],
    [
      `proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.ca.crt}; proxy_ssl_crl ${pki.dir}/none.crl; proxy_pass https://127.0.0.1:1;`,
      `X509_LOOKUP_load_file("${pki.dir}/none.crl") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${pki.dir}/none.crl, r) error:10000080:BIO routines::no such file error:05880002:x509 certificate routines::system lib)`,
    ],
    ["proxy_ssl_protocols TLSv1.4; proxy_pass https://127.0.0.1:1;", `invalid value "TLSv1.4" in FILE:LINE`],
    ["proxy_ssl_verify_depth x;", `"proxy_ssl_verify_depth" directive invalid number in FILE:LINE`],
    ["proxy_ssl_verify_depth -1;", `"proxy_ssl_verify_depth" directive invalid number in FILE:LINE`],
    [
      "proxy_ssl_server_name maybe;",
      `invalid value "maybe" in "proxy_ssl_server_name" directive, it must be "on" or "off" in FILE:LINE`,
    ],
    ["proxy_ssl_name a; proxy_ssl_name b;", `"proxy_ssl_name" directive is duplicate in FILE:LINE`],
    [
      "proxy_ssl_session_reuse on; proxy_ssl_session_reuse off;",
      `"proxy_ssl_session_reuse" directive is duplicate in FILE:LINE`,
    ],
    ["proxy_ssl_verify;", `invalid number of arguments in "proxy_ssl_verify" directive in FILE:LINE`],
    [
      `proxy_ssl_password_file ${prefix}/none;`,
      `open() "${prefix}/none" failed (2: No such file or directory) in FILE:LINE`,
    ],
    [
      "proxy_ssl_password_file passwords; proxy_ssl_password_file passwords;",
      `"proxy_ssl_password_file" directive is duplicate in FILE:LINE`,
    ],
    // https:// without a port names an upstream block as http:// does; with a port it may not.
    [`proxy_pass https://backend; } } ${upstream} server { listen 127.0.0.1:2; location / {`, undefined],
    [`proxy_pass https://backend/x/; } } ${upstream} server { listen 127.0.0.1:2; location / {`, undefined],
    [
      `proxy_pass https://backend:443; } } ${upstream} server { listen 127.0.0.1:2; location / {`,
      `upstream "backend" may not have port 443 in FILE:LINE`,
    ],
    ["if ($host) { proxy_ssl_verify on; }", `"proxy_ssl_verify" directive is not allowed here in FILE:LINE`],
  ];

  test("wsgate -t gives nginx -t's verdict and [emerg] line", async () => {
    await expectNginxVerdicts(
      prefix,
      cases(),
      (inside) => `events {}\nhttp {\nserver {\nlisten 127.0.0.1:1;\nlocation / {\n${inside}\n}\n}\n}\n`,
      (expected, file) => expected.replace("FILE:LINE", `${file}:6`),
    );
  });

  test("proxy_ssl_conf_command (OpenSSL's SSL_CONF_cmd, which Node lacks) is refused by name", async () => {
    const file = join(prefix, "conf-command.conf");
    writeTree(prefix, {
      "conf-command.conf":
        "events {}\nhttp {\nserver {\nlisten 127.0.0.1:1;\nlocation / {\nproxy_ssl_conf_command Options -SessionTicket;\n}\n}\n}\n",
    });
    const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /proxy_ssl_conf_command/);
  });
});
