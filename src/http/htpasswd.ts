/**
 * The two readings basic authentication needs: the user and password of an
 * `Authorization: Basic` header (ngx_http_auth_basic_user()), and the stored
 * hash of a user in an htpasswd file, read byte by byte as
 * ngx_http_auth_basic_handler() reads it.
 */

import type { HeaderList } from "../vars/source.js";

export interface Credentials {
  readonly user: Buffer;
  /** Up to a NUL: nginx hands it to crypt as a C string. */
  readonly password: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]*$/;

/** The credentials, or undefined where nginx declines (no header, not Basic, bad base64, no ":" or no user). */
export function basicCredentials(headers: HeaderList): Credentials | undefined {
  const header = headers.find(([name]) => name.toLowerCase() === "authorization");
  if (header === undefined) return undefined;
  const value = header[1];
  if (value.length < 6 || value.slice(0, 6).toLowerCase() !== "basic ") return undefined;
  let encoded = value.slice(6).replace(/^ +/, "");
  if (encoded === "") return undefined;
  // ngx_decode_base64(): up to the first "=", other characters refused, a lone 6-bit group refused.
  const pad = encoded.indexOf("=");
  if (pad !== -1) encoded = encoded.slice(0, pad);
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) return undefined;
  const decoded = Buffer.from(encoded, "base64");
  const colon = decoded.indexOf(0x3a);
  if (colon <= 0) return undefined;
  let password = decoded.subarray(colon + 1);
  const nul = password.indexOf(0);
  if (nul !== -1) password = password.subarray(0, nul);
  return { user: decoded.subarray(0, colon), password };
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const HASH = 0x23;

/**
 * The stored hash of `user`: the line that starts with "user:", up to the
 * end of the line or the next ":". Lines starting with "#" or CR are
 * skipped, empty lines ignored; as in nginx, a line that ends while it
 * still matched the user's name makes the scan skip the next line too.
 */
export function storedHash(file: Buffer, user: Buffer): string | undefined {
  let state: "login" | "passwd" | "skip" = "login";
  let login = 0;
  let start = 0;
  for (let i = 0; i < file.length; i++) {
    const byte = file[i]!;
    switch (state) {
      case "login": {
        if (login === 0) {
          if (byte === HASH || byte === CR) {
            state = "skip";
            break;
          }
          if (byte === LF) break;
        }
        // The user's name as nginx holds it is followed by the ":" of "user:password".
        const expected = login < user.length ? user[login] : COLON;
        if (byte !== expected) {
          state = "skip";
          break;
        }
        if (login === user.length) {
          state = "passwd";
          start = i + 1;
        }
        login++;
        break;
      }
      case "passwd":
        if (byte === LF || byte === CR || byte === COLON) return file.toString("latin1", start, i);
        break;
      case "skip":
        if (byte === LF) {
          state = "login";
          login = 0;
        }
        break;
    }
  }
  return state === "passwd" ? file.toString("latin1", start) : undefined;
}
