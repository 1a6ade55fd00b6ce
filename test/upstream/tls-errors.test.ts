/**
 * tls-errors.ts: OpenSSL's failures as nginx words them — a verification
 * result's number and text, and a failed handshake's line and level (the
 * peer's handshake failures and alerts at "error", the rest at "crit").
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { handshakeFailure, verifyErrorNumber } from "../../src/upstream/tls-errors.js";

function errorWith(message: string, code?: string, errno?: number): Error {
  return Object.assign(new Error(message), code ? { code } : {}, errno !== undefined ? { errno } : {});
}

describe("tls-errors", () => {
  test("verification results: OpenSSL 3's numbers and texts; an unknown code is 'unspecified'", () => {
    assert.deepEqual(verifyErrorNumber("CERT_HAS_EXPIRED"), [10, "certificate has expired"]);
    assert.deepEqual(verifyErrorNumber("DEPTH_ZERO_SELF_SIGNED_CERT"), [18, "self-signed certificate"]);
    assert.deepEqual(verifyErrorNumber("UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), [
      20,
      "unable to get local issuer certificate",
    ]);
    assert.deepEqual(verifyErrorNumber("NO_SUCH_CODE"), [1, "unspecified certificate verification error"]);
  });

  test("an OpenSSL error loses its function and file, as OpenSSL 3 prints it", () => {
    const err = errorWith(
      "803C29B3797F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n",
      "ERR_SSL_WRONG_VERSION_NUMBER",
    );
    assert.deepEqual(handshakeFailure(err), {
      level: "error",
      message: "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)",
    });
  });

  test("an alert from the peer is its failure (error); another reason is crit", () => {
    const alert = errorWith("x:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:f.c:1:");
    assert.equal(handshakeFailure(alert).level, "error");
    const other = errorWith(
      "x:error:0A000152:SSL routines:final_renegotiate:unsafe legacy renegotiation disabled:f.c:1:",
    );
    assert.equal(handshakeFailure(other).level, "error");
    const internal = errorWith("x:error:0A0C0103:SSL routines:tls_process_key_exchange:internal error:f.c:1:");
    assert.equal(handshakeFailure(internal).level, "crit");
  });

  test("the peer closing in the handshake: with and without an errno", () => {
    const eof = errorWith(
      "Client network socket disconnected before secure TLS connection was established",
      "ECONNRESET",
    );
    assert.deepEqual(handshakeFailure(eof), { level: "error", message: "peer closed connection in SSL handshake" });
    const reset = errorWith("read ECONNRESET", "ECONNRESET", -104);
    assert.deepEqual(handshakeFailure(reset), {
      level: "error",
      message: "peer closed connection in SSL handshake (104: Connection reset by peer)",
    });
  });
});
