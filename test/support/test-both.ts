/**
 * `wsgate -t` next to `nginx -t` on the same file: the configuration suites
 * hold wsgate's verdict and [emerg] line to nginx's, case by case.
 */

import * as assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../cli/run-cli.js";
import { nginxTest, writeTree, type NginxTestResult } from "./config-files.js";

/** The text of the first [emerg] line (after the program name or the log line's "PID#TID: "). */
export function emergText(stderr: string): string | undefined {
  const line = stderr.split("\n").find((entry) => entry.includes("[emerg] "));
  return line
    ?.slice(line.indexOf("[emerg] ") + "[emerg] ".length)
    .replace(/^\d+#\d+: /, "")
    .trimEnd();
}

export interface BothVerdicts {
  readonly file: string;
  /** wsgate's exit status and [emerg] text. */
  readonly code: number | null;
  readonly emerg: string | undefined;
  /** nginx -t's, undefined where nginx is not installed. */
  readonly nginx: NginxTestResult | undefined;
}

/** Write `text` as `name` in `prefix`, and run both programs' -t on it. */
export async function testBoth(prefix: string, name: string, text: string): Promise<BothVerdicts> {
  const file = join(prefix, name);
  writeTree(prefix, { [name]: text });
  const run = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
  return { file, code: run.code, emerg: emergText(run.stderr), nginx: nginxTest({ prefix, confFile: file }) };
}

/** A case: the inside of the file, and nginx's [emerg] text (FILE for the file's path), undefined where it passes. */
export type RefusalCase = readonly [inside: string, expected: string | undefined];

/**
 * Each case under both programs: wsgate's [emerg] is the expected text and its exit status 1 (0 when
 * the case passes), and nginx's [emerg] is wsgate's. `wrap` makes the file from the case's inside
 * (an http block by default), `expand` the expected text from the case and the file's path.
 */
export async function expectNginxVerdicts(
  prefix: string,
  cases: readonly RefusalCase[],
  wrap: (inside: string) => string = (inside) => `events {}\nhttp {\n${inside}\n}\n`,
  expand: (expected: string, file: string, inside: string) => string = (expected, file) =>
    expected.replace("FILE", file),
): Promise<void> {
  let counter = 0;
  for (const [inside, expected] of cases) {
    const both = await testBoth(prefix, `t${++counter}.conf`, wrap(inside));
    assert.equal(both.emerg, expected === undefined ? undefined : expand(expected, both.file, inside), inside);
    assert.equal(both.code, expected === undefined ? 0 : 1, inside);
    if (both.nginx) assert.equal(both.nginx.emerg, both.emerg, inside);
  }
}
