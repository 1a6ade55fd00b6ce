/**
 * Reading an htpasswd file and an Authorization header as nginx reads them:
 * comments, empty lines, CRLF, fields after the hash, a last line without a
 * newline, a user whose name is a prefix of another's, nginx's quirk of
 * skipping the line after one that ended while still matching; and the
 * credentials of `Basic` (case, spaces, padding, no colon, no user).
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { basicCredentials, storedHash } from "../../src/http/htpasswd.js";

const find = (file: string, user: string): string | undefined =>
  storedHash(Buffer.from(file, "latin1"), Buffer.from(user, "latin1"));

describe("htpasswd: the stored hash of a user", () => {
  const file = [
    "# comment: with colon",
    "",
    "alice:{PLAIN}a1",
    "bob:{PLAIN}b1:extra:fields",
    "carol:{PLAIN}c1\r",
    " dave:{PLAIN}d1",
    "al:{PLAIN}short",
    "erin:{PLAIN}e1",
  ].join("\n");

  test("found lines", () => {
    assert.equal(find(file, "alice"), "{PLAIN}a1");
    assert.equal(find(file, "bob"), "{PLAIN}b1");
    assert.equal(find(file, "carol"), "{PLAIN}c1");
    assert.equal(find(file, "al"), "{PLAIN}short");
    assert.equal(find(file, "erin"), "{PLAIN}e1", "the last line needs no newline");
  });

  test("what is not a user", () => {
    assert.equal(find(file, "dave"), undefined, "a leading space is part of the name");
    assert.equal(find(file, " dave"), "{PLAIN}d1");
    assert.equal(find(file, "# comment"), undefined);
    assert.equal(find(file, "ali"), undefined);
    assert.equal(find(file, "alice2"), undefined);
    assert.equal(find("", "alice"), undefined);
  });

  test("a line that ends while still matching skips the next one, as nginx's state machine does", () => {
    assert.equal(find("us\nuser:{PLAIN}x\n", "user"), undefined);
    assert.equal(find("xy\nuser:{PLAIN}x\n", "user"), "{PLAIN}x");
  });

  test("an empty hash", () => {
    assert.equal(find("user:\n", "user"), "");
    assert.equal(find("user:", "user"), "");
  });
});

describe("htpasswd: Basic credentials", () => {
  const header = (value: string): ReadonlyArray<readonly [string, string]> => [["Authorization", value]];
  const encode = (text: string): string => Buffer.from(text, "latin1").toString("base64");
  const read = (value: string): [string, string] | undefined => {
    const credentials = basicCredentials(header(value));
    return credentials && [credentials.user.toString("latin1"), credentials.password.toString("latin1")];
  };

  test("user and password", () => {
    assert.deepEqual(read(`Basic ${encode("user:pa:ss")}`), ["user", "pa:ss"]);
    assert.deepEqual(read(`basic   ${encode("user:")}`), ["user", ""]);
    assert.deepEqual(read(`BASIC ${encode("u:p").replace(/=+$/, "")}`), ["u", "p"]);
    assert.deepEqual(read(`Basic ${encode("u:p\0rest")}`), ["u", "p"]);
  });

  test("what nginx declines", () => {
    assert.equal(basicCredentials([]), undefined);
    assert.equal(read(`Bearer ${encode("u:p")}`), undefined);
    assert.equal(read("Basic "), undefined);
    assert.equal(read(`Basic ${encode("nocolon")}`), undefined);
    assert.equal(read(`Basic ${encode(":p")}`), undefined);
    assert.equal(read(`Basic ${encode("u:p")} `), undefined, "a trailing space is not base64");
    assert.equal(read("Basic a"), undefined, "a lone 6-bit group");
  });
});
