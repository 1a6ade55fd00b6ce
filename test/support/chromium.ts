/**
 * Debian's Chromium (/usr/bin/chromium, installed by scripts/install-test-deps.sh)
 * for the browser tests, driven by playwright-core over the DevTools protocol.
 * We start the process ourselves, headless, with a fresh profile in a
 * temporary directory and a DevTools port the kernel chooses on loopback, and
 * connect to it: the child is ours, so close() can always end it by its pid
 * even when the protocol no longer answers. No browser is downloaded.
 *
 * Certificates: the tests serve a self-signed one; --ignore-certificate-errors
 * makes Chromium accept it, and the connection then stays an ordinary HTTP/2
 * session that the page's WebSocket may use (RFC 8441).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext } from "playwright-core";
import { until, withTimeout } from "./wait.js";

export const CHROMIUM = "/usr/bin/chromium";

/** Switches this machine needs (no sandbox as root, no GPU, no traffic of Chromium's own, no QUIC). */
const SWITCHES = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--ignore-certificate-errors",
  "--remote-debugging-address=127.0.0.1",
  "--remote-debugging-port=0",
];

export interface RunningChromium {
  readonly pid: number;
  readonly browser: Browser;
  readonly context: BrowserContext;
  /** What Chromium wrote on stderr (for a failure's message). */
  output(): string;
  /** Close the browser (bounded), kill it by its pid if it is still there, remove its profile. */
  close(): Promise<void>;
}

/** Why the browser tests cannot run here, or false. */
export function chromiumSkip(): string | false {
  return existsSync(CHROMIUM)
    ? false
    : `${CHROMIUM} is missing (scripts/install-test-deps.sh installs Debian's chromium)`;
}

export async function startChromium(startMs = 20_000): Promise<RunningChromium> {
  const profile = mkdtempSync(join(tmpdir(), "wsgate-chromium-"));
  const child = spawn(CHROMIUM, [...SWITCHES, `--user-data-dir=${profile}`, "about:blank"], {
    stdio: ["ignore", "ignore", "pipe"],
    // Its own process group: its helpers (zygote, renderers, crashpad) end with it, by the group's id.
    detached: true,
  });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await withTimeout(exited, 5000, "chromium's exit").catch(() => undefined);
    // Its helpers end on their own once it has (killed at once, their children are left unreaped).
    await until(() => !groupAlive(child.pid), 3000, "chromium's helpers").catch(() => undefined);
    killGroup(child.pid);
    child.stderr!.destroy();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  try {
    const endpoint = await withTimeout(
      devToolsEndpoint(child, () => output),
      startMs,
      "chromium's DevTools endpoint",
    );
    const browser = await chromium.connectOverCDP(endpoint, { timeout: startMs });
    const context = browser.contexts()[0] ?? (await browser.newContext());
    return {
      pid: child.pid!,
      browser,
      context,
      output: () => output,
      close: async () => {
        await withTimeout(browser.close(), 5000, "closing chromium").catch(() => undefined);
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw new Error(`chromium did not start: ${String(err)}\n${output}`, { cause: err });
  }
}

/** Whether a process of the browser's group is still there. */
function groupAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What is left of the browser's process group (helpers that outlived it). */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone already.
  }
}

/** The "DevTools listening on ws://…" line Chromium prints once its port is bound. */
function devToolsEndpoint(child: ChildProcess, output: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const look = (): void => {
      const found = /DevTools listening on (ws:\/\/\S+)/.exec(output());
      if (found) {
        child.stderr!.off("data", look);
        resolve(found[1]!);
      }
    };
    child.stderr!.on("data", look);
    child.once("exit", (code, signal) => reject(new Error(`chromium exited (${code ?? signal})`)));
    look();
  });
}
