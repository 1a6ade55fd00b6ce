/**
 * The files of the dashboard's page, read once when the module loads (at the
 * start of every serving process) and kept: the page itself (dashboard/ at
 * the package's root: HTML, CSS, script) and the uPlot chart library from
 * the installed `uplot` package's dist/. Nothing comes from the network. A
 * file that cannot be read is kept as its error: the dashboard then answers
 * 500 and says why in the error log, rather than the process failing to start.
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
}

/** What the page asks for, by its name under the location: the page's own files and uPlot's. */
const FILES: ReadonlyArray<readonly [name: string, contentType: string, path: () => string]> = [
  ["", "text/html; charset=utf-8", () => join(pageFolder(), "index.html")],
  ["dashboard.css", "text/css; charset=utf-8", () => join(pageFolder(), "dashboard.css")],
  ["dashboard.js", "application/javascript; charset=utf-8", () => join(pageFolder(), "dashboard.js")],
  ["uPlot.iife.min.js", "application/javascript; charset=utf-8", () => uplotFile("uPlot.iife.min.js")],
  ["uPlot.min.css", "text/css; charset=utf-8", () => uplotFile("uPlot.min.css")],
];

/** The package's dashboard/ folder (this file is compiled to dist/src/static/). */
function pageFolder(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "dashboard");
}

function uplotFile(name: string): string {
  // The package has no "exports": its main file locates the installed dist/.
  return join(dirname(createRequire(import.meta.url).resolve("uplot")), name);
}

function load(): Map<string, Asset | Error> {
  const assets = new Map<string, Asset | Error>();
  for (const [name, contentType, path] of FILES) {
    try {
      assets.set(name, { contentType, body: readFileSync(path()) });
    } catch (err) {
      assets.set(name, err instanceof Error ? err : new Error(String(err)));
    }
  }
  return assets;
}

const ASSETS = load();

/** The asset named so ("" is the page), its read error, or undefined for a name the dashboard does not have. */
export function dashboardAsset(name: string): Asset | Error | undefined {
  return ASSETS.get(name);
}
