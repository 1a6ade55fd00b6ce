/**
 * ngx_http_auth_basic_handler(): the access-phase check of auth_basic. The
 * password file is read on every request, as nginx reads it (a changed file
 * needs no reload); an unknown user, a wrong password or no credentials is
 * 401 with `WWW-Authenticate: Basic realm="…"`; a file that does not exist is
 * 403, one that cannot be read 500.
 */

import { readFileSync } from "node:fs";
import { systemErrorText } from "../core/errors.js";
import { userFilePath } from "../config/modules/auth-basic.js";
import type { ErrorLog } from "../log/error-log.js";
import { crypt } from "./crypt.js";
import { basicCredentials, storedHash } from "./htpasswd.js";
import type { HttpRequest } from "./request.js";

/** The handler's answer: declined (not configured, or `off`), ok, or a status to end the request with. */
export type AuthAnswer =
  | { readonly kind: "declined" }
  | { readonly kind: "ok" }
  | { readonly kind: "status"; readonly status: number; readonly headers?: ReadonlyArray<[string, string]> };

const DECLINED: AuthAnswer = { kind: "declined" };
const OK: AuthAnswer = { kind: "ok" };

export function authBasic(r: HttpRequest, log: ErrorLog): AuthAnswer {
  const realmValue = r.loc.authBasic;
  const file = r.loc.authBasicUserFile;
  if (realmValue === undefined || file === undefined) return DECLINED;
  const realm = realmValue.evaluate(r);
  if (realm === "off") return DECLINED;
  const challenge: AuthAnswer = {
    kind: "status",
    status: 401,
    headers: [["WWW-Authenticate", `Basic realm="${realm}"`]],
  };
  const credentials = basicCredentials(r.headers);
  if (credentials === undefined) {
    log.log("info", "no user/password was provided for basic authentication", r.logContext());
    return challenge;
  }
  const path = userFilePath(file, file.path.evaluate(r));
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    return unreadable(r, log, path, err as NodeJS.ErrnoException);
  }
  const user = credentials.user.toString("latin1");
  const stored = storedHash(data, credentials.user);
  if (stored === undefined) {
    log.log("error", `user "${user}" was not found in "${path}"`, r.logContext());
    return challenge;
  }
  const computed = crypt(credentials.password, stored);
  if (computed.kind === "unsupported") {
    log.log(
      "error",
      `user "${user}": the password hash scheme "${computed.scheme}" of "${path}" is not supported by wsgate`,
      r.logContext(),
    );
    return { kind: "status", status: 500 };
  }
  if (computed.value === stored) return OK;
  log.log("error", `user "${user}": password mismatch`, r.logContext());
  return challenge;
}

/** ngx_open_file() failed: a missing file is 403 at error level, anything else 500 at crit; a directory fails at read. */
function unreadable(r: HttpRequest, log: ErrorLog, path: string, err: NodeJS.ErrnoException): AuthAnswer {
  if (err.code === "EISDIR") {
    log.log("crit", `pread() "${path}" failed (${systemErrorText(err)})`, r.logContext());
    return { kind: "status", status: 500 };
  }
  const missing = err.code === "ENOENT";
  log.log(missing ? "error" : "crit", `open() "${path}" failed (${systemErrorText(err)})`, r.logContext());
  return { kind: "status", status: missing ? 403 : 500 };
}
