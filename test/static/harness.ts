/**
 * nginx and wsgate side by side over one tree of files, for the static-file
 * tests. When the tests run as root, both servers run as nobody (uid 65534),
 * so a file without read permission gets the 403 an unprivileged nginx
 * gives; the temporary directories are opened up for that.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nginxPath, waitForPort } from "../differential/peers.js";
import { freePort, WSGATE_BIN } from "../support/proxy.js";

/** Root can read any file: run the servers as nobody so permissions count. */
export const RUN_AS = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

/** True when a file without permissions cannot be read by the servers (they do not run as root). */
export const PERMISSIONS_APPLY = RUN_AS !== undefined || process.getuid?.() !== 0;

export interface StaticPeer {
  readonly name: "nginx" | "wsgate";
  readonly port: number;
  readonly pid: number;
  readonly prefix: string;
  errorLog(): string;
  readLog(name: string): string;
  stop(): Promise<void>;
}

/** A temporary directory the servers can read and write whatever user they run as. */
export function openTempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `wsgate-static-${label}-`));
  chmodSync(dir, 0o755);
  return dir;
}

export async function startStaticPeer(name: "nginx" | "wsgate", httpBody: string): Promise<StaticPeer> {
  const prefix = openTempDir(name);
  const logs = join(prefix, "logs");
  mkdirSync(logs);
  chmodSync(logs, 0o777);
  const port = await freePort();
  const conf = [
    `pid ${join(logs, "nginx.pid")};`,
    `error_log ${join(logs, "error.log")} info;`,
    `events { worker_connections 64; }`,
    `http {`,
    `  access_log ${join(logs, "access.log")};`,
    httpBody.replaceAll("PORT", String(port)),
    `}`,
  ].join("\n");
  writeFileSync(join(prefix, "nginx.conf"), conf);
  const args = ["-p", prefix + "/", "-c", join(prefix, "nginx.conf"), "-g", "daemon off; master_process off;"];
  const options = { stdio: ["ignore", "ignore", "pipe"] as ["ignore", "ignore", "pipe"], ...(RUN_AS ?? {}) };
  const child: ChildProcess =
    name === "nginx"
      ? spawn(nginxPath()!, ["-e", join(logs, "error.log"), ...args], options)
      : spawn(process.execPath, [WSGATE_BIN, ...args], options);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await waitForPort(port, child, () => stderr);
  const read = (file: string): string => (existsSync(file) ? readFileSync(file, "latin1") : "");
  return {
    name,
    port,
    pid: child.pid!,
    prefix,
    errorLog: () => read(join(logs, "error.log")),
    readLog: (file) => read(join(logs, file)),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((done) => child.once("exit", done));
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

/** Send raw bytes and read until the server closes (every case ends with a request that asks it to). */
export function rawExchange(port: number, request: string | Buffer): Promise<Buffer> {
  return new Promise((done, fail) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`no end of reply for ${JSON.stringify(request.toString().slice(0, 80))}`));
    }, 5000);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", () => {
      clearTimeout(timer);
      done(Buffer.concat(chunks));
    });
    socket.on("error", () => undefined);
    socket.write(request);
  });
}

/** A reply with what differs by nature made equal: Date and Server headers, the product token, multipart boundaries, the port. */
export function comparable(reply: Buffer, port: number): string {
  return reply
    .toString("latin1")
    .replaceAll(`:${port}`, ":PORT")
    .replace(/^(Date|Server): [^\r]*\r\n/gim, "")
    .replace(/nginx\/\d+\.\d+\.\d+|wsgate\/\d+\.\d+\.\d+/g, "SERVER")
    .replace(/\d{20}/g, "BOUNDARY");
}

/** Error-log lines at [error] and above (and [crit]/[alert]), without time, pid and connection number. */
export function errorLines(log: string): string[] {
  return log
    .split("\n")
    .filter((line) => / \[(error|crit|alert|emerg)\] /.test(line))
    .map((line) => line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?/, "$1 "));
}
