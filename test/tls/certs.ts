/**
 * Self-signed certificates made at test time with the openssl command: one
 * RSA and one ECDSA pair, each for its own name, in a temporary directory.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  readonly dir: string;
  /** CN=a.test, RSA 2048. */
  readonly aCrt: string;
  readonly aKey: string;
  /** CN=b.test, ECDSA P-256. */
  readonly bCrt: string;
  readonly bKey: string;
  remove(): void;
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "wsgate-tls-"));
  const make = (name: string, key: string[]): void => {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        ...key,
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        join(dir, `${name}.key`),
        "-out",
        join(dir, `${name}.crt`),
      ],
      { stdio: "ignore", timeout: 20_000 },
    );
  };
  make("a.test", ["rsa:2048"]);
  make("b.test", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  return {
    dir,
    aCrt: join(dir, "a.test.crt"),
    aKey: join(dir, "a.test.key"),
    bCrt: join(dir, "b.test.crt"),
    bKey: join(dir, "b.test.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** openssl is needed to make the certificates; a test is skipped without it. */
export function opensslSkip(): string | false {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return false;
  } catch {
    return "the openssl command is not installed";
  }
}
