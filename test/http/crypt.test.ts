/**
 * ngx_crypt()'s schemes against known vectors: Drepper's specification for
 * SHA-crypt, and hashes made by `openssl passwd` and Debian's libxcrypt
 * (through Python's crypt module) for MD5-crypt, Apache's $apr1$, SHA-crypt
 * with and without rounds, the settings libxcrypt refuses ("*0"), and
 * nginx's own {PLAIN}, {SHA} and {SSHA}.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { crypt } from "../../src/http/crypt.js";

const LONG = "0123456789abcdef0123456789abcdefXYZ";
const X70 = "x".repeat(70);

/** [password, stored line]: the password hashes to the line. */
const VECTORS: Array<[string, string]> = [
  // Drepper's specification.
  ["Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"],
  [
    "Hello world!",
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
  ],
  ["Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"],
  // libxcrypt.
  ["password", "$1$abcd$ABOCfICGTWeBeG/njucVA1"],
  ["pass", "$1$$uqbusDeGY2YWqg.T2S1100"],
  ["", "$5$shortsalt$iuUaH.Ga4L72pjeRTJNjQNXYRT4vr86Hd8qSkHI1eU3"],
  ["pass", "$5$$uiDW1S6rgZftwYtd26Y7Pc6OPNp52GZaGI8fbl6NQV9"],
  ["pass", "$5$rounds=5000$xyz$2hkneAjCfg9G8XkQnQ8v8AhyveR9krlqFqRy6rJnsVA"],
  // openssl passwd.
  ["", "$1$abcd$CwbBDotm4UoKv5fATTtzT."],
  [LONG, "$1$abcd$mzRk2nLY9lTvKPndV.AuQ0"],
  ["", "$apr1$saltsalt$a8ml/vK5HEjiZ5oypDWA7/"],
  ["a", "$apr1$saltsalt$OEnK0QmmvoDzFw9W2yFYT/"],
  ["password", "$apr1$saltsalt$yAAkm4libquA.ZWLHbSBq/"],
  [LONG, "$apr1$saltsalt$ajTy1nCnEDk2h4Emtwptu0"],
  [X70, "$apr1$saltsalt$Ya7gfF9bw1NifMy86ytMT."],
  ["a", "$5$shortsalt$aZ4UPMT5TtIBKJGbUtIYb88O158drBjE8fm0OHVKBk7"],
  ["password", "$5$shortsalt$9fVMh0Mqx7d6Q1.ujTGXp6sWTvFXDffoqEHrwrlzDG/"],
  [LONG, "$5$shortsalt$iDAO3Tt6Ad5DexNviGqQ6qvPU29ZANL.tER0dnFzMv6"],
  [X70, "$5$shortsalt$g/tDcBFwbu4Dcvl866rdOVwlVIaY85NeQ3QciBUYvl/"],
  ["pass", "$5$rounds=1000$xyz$HlxlMyOF5p6aqTdT4T7lf3zYx4XQiehZpSAt74BbzH5"],
  ["a", "$6$abcdefghijklmnop$5IETrK7DfmBLCcDDd2uUkHSMDWAJF6Icsj01AxgOg03tQ1u38QhUaKCWDwYi/e/EJYW.XtfPCzI7EG7M7zlvZ."],
  [
    "password",
    "$6$abcdefghijklmnop$0aenUFHf897F9u0tURIHOeACWajSuVGa7jgJGyq.DKZm/WXl/IZFvPbneFydBjomEOgM.Sh1m0L3KsS1.H5b//",
  ],
  [LONG, "$6$abcdefghijklmnop$x6VOz6ciKwwJiex0revkTivaOiHnVxAugpm0cx06gNOtfGmcdnncDvy8q.kEopVzB8zgK33hNUtO4xkdze3te0"],
  [X70, "$6$abcdefghijklmnop$hS6.x2w4anxWHGjXX7i28a6dY/P0WGi0KacxJzfEivO5MUSdPZX.ifrKoLvK2ajBcrtkSsyC6V.5jd5O50FYy1"],
  ["pass", "$6$rounds=1000$xyz$T7nhk3HVTdvcKpXdptz91rQGs/PE7Ue0Ro7Fr/.AG.W9BNqY6pw2AhQzMPYJa6h4aOMOUPAZkgSECb/GQBCrI1"],
  // nginx's own.
  ["password", "{PLAIN}password"],
  ["password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="],
  ["password", "{SSHA}vpfBLgNNk+0h9jarAltvFs4cK/sBAgMEc2FsdA=="],
];

const computed = (password: string, stored: string): string => {
  const result = crypt(Buffer.from(password, "latin1"), stored);
  assert.equal(result.kind, "hash", stored);
  return result.kind === "hash" ? result.value : "";
};

describe("crypt: known vectors", () => {
  for (const [password, stored] of VECTORS) {
    test(`${stored.slice(0, 24)}… ${JSON.stringify(password.slice(0, 12))}`, () => {
      assert.equal(computed(password, stored), stored);
      // A wrong password does not give the line.
      assert.notEqual(computed(password + "!", stored), stored);
    });
  }

  test("salts are cut where libxcrypt cuts them: 8 characters for MD5, 16 for SHA", () => {
    assert.equal(
      computed("pass", "$5$abcdefghijklmnopqrstu$"),
      "$5$abcdefghijklmnop$gSCC1LfUyhC0EYJxu6EGpkU1nck6PWyFt7U9U8EFeL5",
    );
    assert.match(computed("pw", "$1$abcdefghij"), /^\$1\$abcdefgh\$/);
    assert.match(computed("pw", "$apr1$abcdefghij"), /^\$apr1\$abcdefgh\$/);
  });

  test("settings libxcrypt refuses give its failure token, never equal to a line", () => {
    for (const stored of [
      "$5$rounds=01000$xyz$a",
      "$5$rounds=999$xyz$a",
      "$5$rounds=1000000000$xyz$a",
      "$6$rounds=1000x$abc",
      "$5$rounds=$abc",
      "$5$sa:lt$",
      "$5$ab cd$",
      "$1$ab:c$",
      "$5$abcdefghijklmnop:qr$",
      "secret",
      "",
    ]) {
      assert.equal(computed("pass", stored), "*0", stored);
    }
  });

  test("an {SSHA} line with a bad salt hashes with no salt, as nginx's dummy salt", () => {
    assert.equal(computed("password", "{SSHA}!!"), "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");
  });

  test("DES, bcrypt and yescrypt lines are named as unsupported", () => {
    for (const [stored, scheme] of [
      ["seIema1eRMhgQ", "DES"],
      ["$2y$05$abcdefghijklmnopqrstuuZFBUbfXoM8LFiPx8LYlO/sXZB/Cwk3K", "$2y$"],
      ["$y$j9T$abc$def", "$y$"],
    ]) {
      assert.deepEqual(crypt(Buffer.from("pass"), stored!), { kind: "unsupported", scheme }, stored);
    }
  });
});
