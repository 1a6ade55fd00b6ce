/**
 * Helpers for the configuration and command-line tests: temporary trees of
 * configuration files, a free loopback port, and running Debian's nginx -t on
 * the same files to compare its message with wsgate's.
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** A fresh directory under the system's temporary directory. */
export function makeTempDir(label = "config"): string {
  return mkdtempSync(join(tmpdir(), `wsgate-${label}-`));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Run `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T, label?: string): Promise<T> {
  const dir = makeTempDir(label);
  try {
    return await fn(dir);
  } finally {
    removeTempDir(dir);
  }
}

/** Write files (paths relative to `dir`, parent directories made as needed). */
export function writeTree(dir: string, files: Readonly<Record<string, string>>): void {
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text, "latin1");
  }
}

export const NGINX_BINARY = "/usr/sbin/nginx";

export function hasNginx(): boolean {
  return existsSync(NGINX_BINARY);
}

export interface NginxTestResult {
  /** nginx's exit status. */
  readonly status: number | null;
  /** The text after "[emerg] " (and after the "PID#TID: " of a timestamped line), or undefined. */
  readonly emerg: string | undefined;
  readonly stderr: string;
}

/**
 * `nginx -t -q -e stderr -p PREFIX/ -c FILE [-g GLOBALS]`; undefined when nginx is not installed.
 * With -e stderr, nginx logs through its error log, so lines read "DATE [emerg] PID#TID: TEXT".
 */
export function nginxTest(options: {
  readonly prefix: string;
  readonly confFile: string;
  readonly globals?: string;
}): NginxTestResult | undefined {
  if (!hasNginx()) return undefined;
  const args = ["-t", "-q", "-e", "stderr", "-p", options.prefix.endsWith("/") ? options.prefix : options.prefix + "/"];
  args.push("-c", options.confFile);
  if (options.globals !== undefined) args.push("-g", options.globals);
  const run = spawnSync(NGINX_BINARY, args, { encoding: "latin1", timeout: 20_000 });
  const stderr = run.stderr ?? "";
  const line = stderr.split("\n").find((text) => text.includes("[emerg] "));
  const emerg =
    line === undefined
      ? undefined
      : line
          .slice(line.indexOf("[emerg] ") + "[emerg] ".length)
          .replace(/^\d+#\d+: /, "")
          .trimEnd();
  return { status: run.status, emerg, stderr };
}
