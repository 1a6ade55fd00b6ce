/**
 * `user USER [GROUP]` for workers started by root: names resolved from
 * /etc/passwd and /etc/group (nginx's getpwnam()/getgrnam()), then setgid()
 * and setuid() in the worker, group first, as nginx does.
 */

import { readFileSync } from "node:fs";
import { SystemError } from "../core/errors.js";

export interface Identity {
  readonly uid: number;
  readonly gid: number;
}

/** Resolve `user`/`group` (names or numbers); throws nginx's getpwnam()/getgrnam() message. */
export function resolveIdentity(user: string, group: string): Identity {
  const uid = lookup("/etc/passwd", user);
  if (uid === undefined) throw new SystemError(`getpwnam("${user}") failed`);
  const gid = lookup("/etc/group", group);
  if (gid === undefined) throw new SystemError(`getgrnam("${group}") failed`);
  return { uid, gid };
}

function lookup(file: string, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return undefined;
}

/** In a worker: become `identity`; throws nginx's setgid()/setuid() message. */
export function switchIdentity(identity: Identity): void {
  try {
    process.setgroups?.([identity.gid]);
    process.setgid?.(identity.gid);
  } catch (err) {
    throw new SystemError(`setgid(${identity.gid}) failed (${(err as Error).message})`);
  }
  try {
    process.setuid?.(identity.uid);
  } catch (err) {
    throw new SystemError(`setuid(${identity.uid}) failed (${(err as Error).message})`);
  }
}
