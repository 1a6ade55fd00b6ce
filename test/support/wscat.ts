/**
 * The `wscat` package as a user runs it: `wscat -c URL -x MESSAGE -w 1`,
 * with its standard input held open until it exits (it quits on EOF), killed
 * after a bounded wait.
 */

import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./proxy.js";

export interface WscatResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runWscat(url: string, message: string, extraArgs: readonly string[] = []): Promise<WscatResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "node_modules", "wscat", "bin", "wscat"), "-c", url, ...extraArgs, "-x", message, "-w", "1"],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`wscat did not exit within 10 s; stdout: ${stdout} stderr: ${stderr}`));
    }, 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ code, stdout, stderr });
    });
  });
}
