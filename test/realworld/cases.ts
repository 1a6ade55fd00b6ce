/**
 * The real-world configurations of test/realworld/cases/: each folder is a
 * file tree in the shape people deploy (a distribution's /etc/nginx, a
 * container image's, an application's documented site) and a case.json that
 * says what it is and what must happen. A case may extend another (its tree
 * copied first, some files left out) and add its own files over it.
 *
 * The trees are as published but for placeholders, filled when a case is
 * laid out in a fresh directory: @ROOT@ (that directory: absolute paths such
 * as /etc/nginx become @ROOT@/etc/nginx), @PORT@ and @PORT2@ (the ports
 * servers listen on, 80 and 443 in the originals), @BACKEND@ (the echo
 * backend's port), @USER@ (an unprivileged user of this machine, for
 * packages whose own user does not exist here) and @CERT@/@KEY@ (a
 * certificate made at test time).
 */

import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ROOT } from "../support/proxy.js";

export const CASES_DIR = join(ROOT, "test", "realworld", "cases");

/** Where nginx's packaged dynamic modules live on Debian; relative `load_module` paths start from its prefix. */
const SYSTEM_MODULES = "/usr/share/nginx/modules";

export interface WebSocketCheck {
  /** "PORT" or "PORT2". */
  readonly port: "PORT" | "PORT2";
  readonly path: string;
  readonly host?: string;
  /** The client connects with TLS (wss://). */
  readonly tls?: boolean;
  /** The echo backend speaks TLS (the case proxies to https://). */
  readonly backendTls?: boolean;
}

export interface HttpCheck {
  readonly port: "PORT" | "PORT2";
  readonly path: string;
  readonly host?: string;
  readonly status: number;
}

export interface RealWorldCase {
  readonly name: string;
  /** Which public shape the tree follows. */
  readonly shape: string;
  readonly extends?: string;
  readonly without?: readonly string[];
  /** The main configuration file, relative to the tree. */
  readonly conf: string;
  /** What `nginx -t` says of it: the expectation wsgate is held to, checked against nginx where it is installed. */
  readonly nginxTest: "ok" | "fail";
  /** The [emerg] text both give when the test fails (placeholders filled). */
  readonly emerg?: string;
  /** nginx accepts it; wsgate refuses it by the name of a module outside its scope. */
  readonly outOfScope?: string;
  /** The case needs @CERT@ and @KEY@. */
  readonly certs?: boolean;
  /** Directories to create besides the logs' and the pid file's. */
  readonly dirs?: readonly string[];
  readonly websocket?: readonly WebSocketCheck[];
  readonly http?: readonly HttpCheck[];
}

export function loadCases(): RealWorldCase[] {
  return readdirSync(CASES_DIR)
    .filter((name) => existsSync(join(CASES_DIR, name, "case.json")))
    .sort()
    .map((name) => ({ name, ...(JSON.parse(readFileSync(join(CASES_DIR, name, "case.json"), "utf8")) as object) }))
    .map((entry) => entry as RealWorldCase);
}

export interface Placeholders {
  readonly root: string;
  readonly port: number;
  readonly port2: number;
  readonly backend: number;
  readonly user: string;
  readonly cert: string;
  readonly key: string;
}

/** Fill a text's placeholders. */
export function fill(text: string, values: Placeholders): string {
  return text
    .replaceAll("@ROOT@", values.root)
    .replaceAll("@PORT2@", String(values.port2))
    .replaceAll("@PORT@", String(values.port))
    .replaceAll("@BACKEND@", String(values.backend))
    .replaceAll("@USER@", values.user)
    .replaceAll("@CERT@", values.cert)
    .replaceAll("@KEY@", values.key);
}

/**
 * Lay the case out in `values.root`: the tree it extends, less the files it
 * leaves out, its own files over it, every placeholder filled; the
 * directories logs and pid files go to; nginx's compiled-in prefix
 * (usr/share/nginx) with its logs/ and the machine's packaged modules in it.
 */
export function layOut(entry: RealWorldCase, values: Placeholders): void {
  const root = values.root;
  if (entry.extends) copyTree(join(CASES_DIR, entry.extends), root);
  for (const file of entry.without ?? []) rmSync(join(root, file), { force: true });
  copyTree(join(CASES_DIR, entry.name), root);
  for (const file of filesUnder(root)) writeFileSync(file, fill(readFileSync(file, "utf8"), values));
  const prefix = nginxPrefix(root);
  mkdirSync(prefix, { recursive: true });
  if (existsSync(SYSTEM_MODULES) && !existsSync(join(prefix, "modules"))) {
    symlinkSync(SYSTEM_MODULES, join(prefix, "modules"));
  }
  // logs/ in the prefix: where a file without a main-level error_log logs (nginx's compiled-in default).
  mkdirSync(join(prefix, "logs"), { recursive: true });
  for (const dir of ["var/log/nginx", "run", "var/run", ...(entry.dirs ?? [])]) {
    mkdirSync(join(root, dir), { recursive: true });
  }
}

/** The prefix both programs are given: Debian's compiled-in one, inside the case's root. */
export function nginxPrefix(root: string): string {
  return join(root, "usr", "share", "nginx") + "/";
}

/** The relative load_module paths of a laid-out tree whose module is missing on this machine. */
export function missingModules(root: string): string[] {
  const missing: string[] = [];
  for (const file of filesUnder(root)) {
    for (const match of readFileSync(file, "utf8").matchAll(/^\s*load_module\s+([^;\s]+)\s*;/gm)) {
      const path = match[1]!;
      if (!existsSync(path.startsWith("/") ? path : join(nginxPrefix(root), path))) missing.push(path);
    }
  }
  return missing;
}

function copyTree(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    if (name === "case.json") continue;
    cpSync(join(from, name), join(to, name), { recursive: true });
  }
}

function filesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    // lstat: the link to the packaged modules is not the case's to fill or read.
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) files.push(...filesUnder(path));
    else if (stat.isFile()) files.push(path);
  }
  return files;
}
