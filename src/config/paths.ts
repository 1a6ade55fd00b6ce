/**
 * nginx resolves relative paths against one of two prefixes: the configuration
 * prefix (the main file's directory) for `include`, and the prefix (`-p`) for
 * logs, the pid file and the main file itself.
 */

import { dirname, isAbsolute, join, resolve } from "node:path";

export function resolveFromPrefix(prefix: string, path: string): string {
  return isAbsolute(path) ? path : join(prefix, path);
}

export interface Prefixes {
  /** `-p`, or the compiled-in default: the directory wsgate is installed in. */
  readonly prefix: string;
  /** The main configuration file, absolute. */
  readonly confFile: string;
  /** Its directory: where `include` paths start. */
  readonly confPrefix: string;
}

export function prefixesFor(prefix: string, confFile: string): Prefixes {
  const absolutePrefix = resolve(prefix);
  const absoluteConf = resolveFromPrefix(absolutePrefix, confFile);
  return { prefix: absolutePrefix, confFile: absoluteConf, confPrefix: dirname(absoluteConf) };
}
