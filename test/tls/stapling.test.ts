/**
 * OCSP stapling against nginx: with ssl_stapling_file, a client that asks
 * for the certificate's status gets the file's response (tls.connect's
 * requestOCSP), under nginx and wsgate alike; and `-t` gives nginx's
 * warnings when a certificate's issuer or responder is not found, and its
 * errors for the files.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type ConnectionOptions } from "node:tls";
import { runCli } from "../cli/run-cli.js";
import { skipWithoutNginx, startPeer } from "../differential/peers.js";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { makePki, type TestPki } from "../support/test-pki.js";
import { opensslSkip } from "./certs.js";

/** A DER OCSPResponse with a status and no body (d2i_OCSP_RESPONSE reads it; nginx staples it as it is). */
const RESPONSE = Buffer.from("30030a0101", "hex");

/** What a client asking for the status (or not) is stapled: hex, or "none". */
function stapled(port: number, ask: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "none";
    // requestOCSP is a tls.connect() option @types/node leaves out (it is on TLSSocket's options).
    const options = { host: "127.0.0.1", port, requestOCSP: ask, rejectUnauthorized: false };
    const socket = connect(options as ConnectionOptions);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no handshake within 3 s"));
    }, 3000);
    socket.on("OCSPResponse", (response: Buffer) => (got = response.toString("hex")));
    socket.on("error", reject);
    socket.on("secureConnect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    });
  });
}

describe("ssl_stapling", { skip: opensslSkip() }, () => {
  let pki: TestPki;
  let prefix: string;
  before(() => {
    pki = makePki();
    prefix = makeTempDir("stapling");
    writeTree(prefix, { "logs/.keep": "" });
    writeFileSync(join(pki.dir, "response.der"), RESPONSE);
  });
  after(() => {
    pki.remove();
    removeTempDir(prefix);
  });

  test(
    "ssl_stapling_file: a client that asks for the status gets the file's response",
    { skip: skipWithoutNginx() },
    async () => {
      const conf = `server {
      listen 127.0.0.1:PORT ssl;
      ssl_certificate ${pki.good.crt}; ssl_certificate_key ${pki.good.key};
      ssl_stapling on; ssl_stapling_file ${join(pki.dir, "response.der")};
      return 200;
    }`;
      const seen: Record<string, string[]> = {};
      for (const name of ["nginx", "wsgate"] as const) {
        const peer = await startPeer(name, conf);
        try {
          seen[name] = [await stapled(peer.port, true), await stapled(peer.port, false)];
        } finally {
          await peer.stop();
        }
      }
      assert.deepEqual(seen.nginx, [RESPONSE.toString("hex"), "none"]);
      assert.deepEqual(seen.wsgate, seen.nginx);
    },
  );

  test("-t: nginx's warnings and errors", async () => {
    const chain = join(pki.dir, "good-chain.crt");
    writeFileSync(chain, readFileSync(pki.good.crt, "latin1") + readFileSync(pki.ca.crt, "latin1"));
    const good = `ssl_certificate ${pki.good.crt}; ssl_certificate_key ${pki.good.key};`;
    const chained = `ssl_certificate ${chain}; ssl_certificate_key ${pki.good.key};`;
    const self = `ssl_certificate ${pki.selfSigned.crt}; ssl_certificate_key ${pki.selfSigned.key};`;
    const cases: Array<[string, string]> = [
      [
        `${self} ssl_stapling on;`,
        `[warn] "ssl_stapling" ignored, issuer certificate not found for certificate "${pki.selfSigned.crt}"`,
      ],
      [
        `${chained} ssl_stapling on;`,
        `[warn] "ssl_stapling" ignored, no OCSP responder URL in the certificate "${chain}"`,
      ],
      [
        `${good} ssl_stapling on; ssl_trusted_certificate ${pki.ca.crt};`,
        `[warn] "ssl_stapling" ignored, no OCSP responder URL in the certificate "${pki.good.crt}"`,
      ],
      [
        `${good} ssl_stapling on;`,
        `[warn] "ssl_stapling" ignored, issuer certificate not found for certificate "${pki.good.crt}"`,
      ],
      [
        `${chained} ssl_stapling on; ssl_stapling_responder ftp://x/;`,
        `[warn] "ssl_stapling" ignored, invalid URL prefix in OCSP responder "ftp://x/" in the certificate "${chain}"`,
      ],
      [`${chained} ssl_stapling on; ssl_stapling_responder http://127.0.0.1:9/; ssl_stapling_verify on;`, ""],
      [
        `${chained} ssl_stapling on; ssl_stapling_file ${pki.dir}/none.der;`,
        `[emerg] BIO_new_file("${pki.dir}/none.der") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${pki.dir}/none.der, rb) error:10000080:BIO routines::no such file)`,
      ],
      [
        `${chained} ssl_stapling on; ssl_stapling_file ${pki.good.crt};`,
        `[emerg] d2i_OCSP_RESPONSE_bio("${pki.good.crt}") failed (SSL: error:068000A8:asn1 encoding routines::wrong tag error:0688010A:asn1 encoding routines::nested asn1 error:Type=OCSP_RESPONSE)`,
      ],
      // The file is read only with ssl_stapling on; the trusted certificates always.
      [`${chained} ssl_stapling_file ${pki.dir}/none.der;`, ""],
      [
        `${chained} ssl_trusted_certificate ${pki.dir}/none.crt;`,
        `[emerg] SSL_CTX_load_verify_locations("${pki.dir}/none.crt") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(${pki.dir}/none.crt, r) error:10000080:BIO routines::no such file error:05880002:x509 certificate routines::system lib)`,
      ],
      [
        `${chained} ssl_stapling maybe;`,
        `[emerg] invalid value "maybe" in "ssl_stapling" directive, it must be "on" or "off" in FILE:3`,
      ],
    ];
    let counter = 0;
    for (const [inside, expected] of cases) {
      const name = `s${++counter}.conf`;
      const file = join(prefix, name);
      writeTree(prefix, { [name]: `events {}\nhttp {\nserver { listen 127.0.0.1:1 ssl; ${inside} }\n}\n` });
      const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
      const line = run.stderr.split("\n").find((entry) => / \[(warn|emerg)\] /.test(entry)) ?? "";
      const shown = line.replace(/^.*? (\[(warn|emerg)\]) (\d+#\d+: )?/, "$1 ").replace(` in ${file}:3`, " in FILE:3");
      assert.equal(shown, expected, inside);
      const nginx = nginxTest({ prefix, confFile: file });
      if (nginx) {
        const nginxLine = nginx.stderr.split("\n").find((entry) => / \[(warn|emerg)\] /.test(entry)) ?? "";
        const nginxShown = nginxLine
          .replace(/^.*? (\[(warn|emerg)\]) (\d+#\d+: )?/, "$1 ")
          .replace(` in ${file}:3`, " in FILE:3");
        assert.equal(nginxShown, shown, inside);
      }
    }
  });
});
