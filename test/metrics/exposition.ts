/**
 * Reading Prometheus' text exposition format back in the metrics tests:
 * every sample as `name{label="value",…}` (labels in the order written) to
 * its value, and promtool's verdict on a text when promtool is installed.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

export const PROMTOOL = "/usr/bin/promtool";
export const PROMETHEUS = "/usr/bin/prometheus";

/** Why a test that needs Prometheus' tools is skipped, or false when they are installed. */
export function prometheusMissing(): string | false {
  return existsSync(PROMTOOL) && existsSync(PROMETHEUS)
    ? false
    : "Debian's prometheus package is not installed (scripts/install-test-deps.sh installs it)";
}

/** The samples of an exposition, by `name{labels}` as written. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The value of one sample; undefined when the exposition has none. */
export function sample(text: string, key: string): number | undefined {
  return samples(text).get(key);
}

/** `promtool check metrics` on `text`: its exit code and what it wrote. */
export function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}
