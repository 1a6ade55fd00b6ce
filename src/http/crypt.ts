/**
 * ngx_crypt(): the password hash of an htpasswd line, computed from the
 * password the client sent with the line's own salt, for comparison with
 * the line. nginx's own schemes — `$apr1$` (Apache's MD5), `{PLAIN}`,
 * `{SHA}`, `{SSHA}` — and of the forms nginx leaves to libc's crypt(3),
 * those wsgate computes itself (Node has no crypt): `$1$` (MD5-crypt), `$5$`
 * and `$6$` (SHA-256/SHA-512-crypt, with `rounds=`). DES, bcrypt (`$2…$`)
 * and yescrypt (`$y$`) lines are recognised and reported as unsupported.
 */

import { createHash } from "node:crypto";

export type CryptResult =
  /** The hash to compare with the stored line. */
  | { readonly kind: "hash"; readonly value: string }
  /** A scheme libc would compute and wsgate cannot: the name for the error log. */
  | { readonly kind: "unsupported"; readonly scheme: string };

/** `key` is the client's password (bytes up to a NUL, as nginx reads a C string); `salt` the stored line. */
export function crypt(key: Buffer, salt: string): CryptResult {
  if (salt.startsWith("$apr1$")) return hash(md5Crypt(key, salt.slice(6), "$apr1$"));
  if (salt.startsWith("{PLAIN}")) return hash("{PLAIN}" + key.toString("latin1"));
  if (salt.startsWith("{SSHA}")) return hash(sshaCrypt(key, salt.slice(6)));
  if (salt.startsWith("{SHA}")) return hash("{SHA}" + createHash("sha1").update(key).digest("base64"));
  return libcCrypt(key, salt);
}

function hash(value: string): CryptResult {
  return { kind: "hash", value };
}

/** libxcrypt's answer to a setting it refuses: never equal to a stored line. */
const FAILURE = "*0";

/** A salt field libxcrypt accepts: crypt's base-64 characters up to "$" or the end. */
const SALT_FIELD = /^[./0-9A-Za-z]*(?:\$|$)/;

/** crypt(3) as Debian's libxcrypt answers it: the forms it knows, or its failure token "*0". */
function libcCrypt(key: Buffer, salt: string): CryptResult {
  if (salt.startsWith("$1$"))
    return hash(SALT_FIELD.test(salt.slice(3)) ? md5Crypt(key, salt.slice(3), "$1$") : FAILURE);
  if (salt.startsWith("$5$")) return hash(shaCrypt(key, salt.slice(3), "sha256") ?? FAILURE);
  if (salt.startsWith("$6$")) return hash(shaCrypt(key, salt.slice(3), "sha512") ?? FAILURE);
  const scheme = /^\$(2[abxy]?|y|gy|7|sha1|md5|3)\$/.exec(salt)?.[0];
  if (scheme !== undefined) return { kind: "unsupported", scheme };
  // Traditional DES (two salt characters, eleven of hash) and BSDi's extended DES ("_").
  if (/^[./0-9A-Za-z]{13}$/.test(salt) || /^_[./0-9A-Za-z]{19}$/.test(salt))
    return { kind: "unsupported", scheme: "DES" };
  return hash(FAILURE);
}

/** ngx_crypt_ssha(): SHA-1 of the password and the salt stored after the 20 bytes of hash. */
function sshaCrypt(key: Buffer, encoded: string): string {
  let decoded = decodeBase64(encoded);
  if (decoded === undefined || decoded.length < 20) decoded = Buffer.alloc(20);
  const salt = decoded.subarray(20);
  const digest = createHash("sha1").update(key).update(salt).digest();
  return "{SSHA}" + Buffer.concat([digest, salt]).toString("base64");
}

/** ngx_decode_base64(): up to the first "=", refusing other characters and a lone sixth bit group. */
function decodeBase64(text: string): Buffer | undefined {
  const end = text.indexOf("=");
  const body = end === -1 ? text : text.slice(0, end);
  if (!/^[A-Za-z0-9+/]*$/.test(body) || body.length % 4 === 1) return undefined;
  return Buffer.from(body, "base64");
}

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** crypt's base-64: `count` characters of the 24-bit word, low bits first. */
function to64(word: number, count: number): string {
  let out = "";
  for (let i = 0; i < count; i++) {
    out += ITOA64[word & 0x3f];
    word >>>= 6;
  }
  return out;
}

/** Poul-Henning Kamp's MD5-crypt (ngx_crypt_apr1, glibc's md5-crypt): 1000 rounds, salt of up to 8. */
function md5Crypt(key: Buffer, setting: string, magic: string): string {
  const salt = Buffer.from(setting.split("$")[0]!.slice(0, 8), "latin1");
  const md5 = (...parts: Buffer[]): Buffer => {
    const h = createHash("md5");
    for (const part of parts) h.update(part);
    return h.digest();
  };
  const alternate = md5(key, salt, key);
  const ctx = createHash("md5").update(key).update(magic).update(salt);
  for (let left = key.length; left > 0; left -= 16) ctx.update(alternate.subarray(0, Math.min(left, 16)));
  // The original's quirk: a byte of the zeroed buffer (0), or the key's first byte.
  for (let i = key.length; i > 0; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : key.subarray(0, 1));
  let final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const round = createHash("md5");
    round.update(i & 1 ? key : final);
    if (i % 3) round.update(salt);
    if (i % 7) round.update(key);
    round.update(i & 1 ? final : key);
    final = round.digest();
  }
  const f = final;
  const text =
    to64((f[0]! << 16) | (f[6]! << 8) | f[12]!, 4) +
    to64((f[1]! << 16) | (f[7]! << 8) | f[13]!, 4) +
    to64((f[2]! << 16) | (f[8]! << 8) | f[14]!, 4) +
    to64((f[3]! << 16) | (f[9]! << 8) | f[15]!, 4) +
    to64((f[4]! << 16) | (f[10]! << 8) | f[5]!, 4) +
    to64(f[11]!, 2);
  return `${magic}${salt.toString("latin1")}$${text}`;
}

/** The byte order of SHA-crypt's output, three bytes a group (Drepper's specification). */
const SHA256_ORDER = [
  [0, 10, 20],
  [21, 1, 11],
  [12, 22, 2],
  [3, 13, 23],
  [24, 4, 14],
  [15, 25, 5],
  [6, 16, 26],
  [27, 7, 17],
  [18, 28, 8],
  [9, 19, 29],
];
const SHA512_ORDER = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
];

const ROUNDS_DEFAULT = 5000;

/**
 * Ulrich Drepper's SHA-256/SHA-512 crypt (libxcrypt's crypt-sha256.c,
 * crypt-sha512.c); undefined where libxcrypt refuses the setting: rounds
 * outside 1000..999999999 or with a leading zero (glibc would clamp them),
 * a salt character outside crypt's base-64.
 */
function shaCrypt(key: Buffer, setting: string, algorithm: "sha256" | "sha512"): string | undefined {
  const size = algorithm === "sha256" ? 32 : 64;
  const magic = algorithm === "sha256" ? "$5$" : "$6$";
  let rest = setting;
  let rounds = ROUNDS_DEFAULT;
  let custom = false;
  if (rest.startsWith("rounds=")) {
    const roundsMatch = /^rounds=([1-9]\d*)\$/.exec(rest);
    if (!roundsMatch) return undefined;
    rounds = Number(roundsMatch[1]);
    if (rounds < 1000 || rounds > 999999999) return undefined;
    custom = true;
    rest = rest.slice(roundsMatch[0].length);
  }
  if (!SALT_FIELD.test(rest)) return undefined;
  const salt = Buffer.from(rest.split("$")[0]!.slice(0, 16), "latin1");
  const digest = (...parts: Buffer[]): Buffer => {
    const h = createHash(algorithm);
    for (const part of parts) h.update(part);
    return h.digest();
  };
  const b = digest(key, salt, key);
  const a = createHash(algorithm).update(key).update(salt);
  let left = key.length;
  for (; left > size; left -= size) a.update(b);
  a.update(b.subarray(0, left));
  for (let n = key.length; n > 0; n >>= 1) a.update(n & 1 ? b : key);
  let c = a.digest();
  const p = stretch(digest(...Array<Buffer>(key.length).fill(key)), key.length);
  const s = stretch(digest(...Array<Buffer>(16 + c[0]!).fill(salt)), salt.length);
  for (let i = 0; i < rounds; i++) {
    const round = createHash(algorithm);
    round.update(i & 1 ? p : c);
    if (i % 3) round.update(s);
    if (i % 7) round.update(p);
    round.update(i & 1 ? c : p);
    c = round.digest();
  }
  let text = "";
  for (const [x, y, z] of algorithm === "sha256" ? SHA256_ORDER : SHA512_ORDER) {
    text += to64((c[x!]! << 16) | (c[y!]! << 8) | c[z!]!, 4);
  }
  text += algorithm === "sha256" ? to64((c[31]! << 8) | c[30]!, 3) : to64(c[63]!, 2);
  return `${magic}${custom ? `rounds=${rounds}$` : ""}${salt.toString("latin1")}$${text}`;
}

/** A digest repeated to `length` bytes (SHA-crypt's P and S sequences). */
function stretch(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += block.length) block.copy(out, at, 0, Math.min(block.length, length - at));
  return out;
}
