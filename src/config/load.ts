/**
 * Loading a configuration: read and parse the main file (with its includes),
 * apply `-g` directives, check and record every directive, then resolve.
 * One entry point for starting, `-t`, and reload.
 */

import { ConfigError } from "../core/errors.js";
import { walkBlock } from "./analyzer.js";
import type { BuildScope, MainBuild } from "./build-scope.js";
import { finalizeHttp, finalizeMain } from "./finalize.js";
import type { Config } from "./model.js";
import { parseFile, parseParameter } from "./parser.js";
import { prefixesFor } from "./paths.js";
import { finishTuning } from "./modules/tuning.js";

export interface LoadOptions {
  /** `-p`: the prefix for relative paths. */
  readonly prefix: string;
  /** `-c`: the main file, relative to the prefix unless absolute. */
  readonly confFile: string;
  /** `-g`: extra main-context directives. */
  readonly globals?: string;
  /** `-e`: the error log used when the configuration names none (absolute, or "stderr"). */
  readonly defaultErrorLog?: string;
  /** File texts already read (path → text), used instead of the disk: a worker loads what its master read. */
  readonly sources?: ReadonlyMap<string, string>;
  /** TLS session-ticket keys (96 hex digits) the master chose for its workers, so that any worker resumes a session. */
  readonly ticketKeys?: string;
}

export async function loadConfig(options: LoadOptions): Promise<Config> {
  const prefixes = prefixesFor(options.prefix, options.confFile);
  const parsed = parseFile(prefixes.confFile, {
    confPrefix: prefixes.confPrefix,
    ...(options.sources ? { sources: options.sources } : {}),
  });
  const main: MainBuild = {};
  const scope: BuildScope = { context: "main", prefixes, main };
  if (options.globals) walkBlock(parseParameter(options.globals, { confPrefix: prefixes.confPrefix }), scope);
  walkBlock(parsed.tree, scope);
  if (!main.eventsSeen) throw new ConfigError("syntax", `no "events" section in configuration`);
  const http = main.http ? await finalizeHttp(main.http, prefixes, options.ticketKeys) : undefined;
  finishTuning(main);
  return {
    file: prefixes.confFile,
    prefix: prefixes.prefix,
    confPrefix: prefixes.confPrefix,
    main: finalizeMain(main, prefixes, options.defaultErrorLog),
    http,
    files: parsed.files,
    warnings: main.warnings ?? [],
  };
}
