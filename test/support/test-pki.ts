/**
 * A small PKI made at test time with the openssl command, in a temporary
 * directory: a test CA, certificates it signs (for backend.test, for another
 * name, an expired one, a client one), an intermediate chain, and a
 * self-signed one. EC P-256 keys, so it is quick.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pair {
  readonly crt: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The root CA (its certificate is the trusted one). */
  readonly ca: Pair;
  /** CN and DNS name backend.test, signed by the CA. */
  readonly good: Pair;
  /** other.test, signed by the CA. */
  readonly wrongName: Pair;
  /** backend.test, signed by the CA, expired yesterday. */
  readonly expired: Pair;
  /** backend.test, self-signed. */
  readonly selfSigned: Pair;
  /** CN=wsgate-client, signed by the CA (a client certificate). */
  readonly client: Pair;
  /** backend.test signed by an intermediate CA signed by a second intermediate: crt holds the leaf and both. */
  readonly deepChain: Pair;
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: "ignore", timeout: 20_000 });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-pki-"));
  const path = (name: string): string => join(dir, name);
  const pair = (name: string): Pair => ({ crt: path(`${name}.crt`), key: path(`${name}.key`) });
  const selfSigned = (name: string, cn: string, ca: boolean): Pair => {
    const p = pair(name);
    const ext = ca ? ["-addext", "basicConstraints=critical,CA:TRUE"] : ["-addext", `subjectAltName=DNS:${cn}`];
    openssl(["req", "-x509", ...EC, "-days", "2", "-subj", `/CN=${cn}`, ...ext, "-keyout", p.key, "-out", p.crt]);
    return p;
  };
  const signed = (name: string, cn: string, issuer: Pair, options: { days?: string; ca?: boolean } = {}): Pair => {
    const p = pair(name);
    openssl(["req", ...EC, "-subj", `/CN=${cn}`, "-keyout", p.key, "-out", path(`${name}.csr`)]);
    writeFileSync(
      path(`${name}.ext`),
      options.ca
        ? "basicConstraints=critical,CA:TRUE\n"
        : `subjectAltName=DNS:${cn}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    openssl([
      "x509",
      "-req",
      "-in",
      path(`${name}.csr`),
      "-CA",
      issuer.crt,
      "-CAkey",
      issuer.key,
      "-CAcreateserial",
      "-days",
      options.days ?? "2",
      "-extfile",
      path(`${name}.ext`),
      "-out",
      p.crt,
    ]);
    return p;
  };
  const ca = selfSigned("ca", "wsgate test CA", true);
  const intermediate1 = signed("int1", "wsgate intermediate 1", ca, { ca: true });
  const intermediate2 = signed("int2", "wsgate intermediate 2", intermediate1, { ca: true });
  const deep = signed("deep", "backend.test", intermediate2);
  writeFileSync(
    path("deep-chain.crt"),
    [deep.crt, intermediate2.crt, intermediate1.crt].map((file) => readFileSync(file, "latin1")).join(""),
  );
  return {
    dir,
    ca,
    good: signed("good", "backend.test", ca),
    wrongName: signed("wrong", "other.test", ca),
    expired: signed("expired", "backend.test", ca, { days: "-1" }),
    selfSigned: selfSigned("self", "backend.test", false),
    client: signed("client", "wsgate-client", ca),
    deepChain: { crt: path("deep-chain.crt"), key: deep.key },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
