/**
 * Starting and stopping: in the foreground (`-g "daemon off;"`) and as a
 * daemon (nginx's default), with the pid file as the handle of `-s`.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import {
  connects,
  killIfRunning,
  lines,
  pollFor,
  processAlive,
  readIfExists,
  runCli,
  startCli,
  within,
  type Started,
} from "./run-cli.js";
import { freePort } from "../support/proxy.js";

let root: string;
let counter = 0;

before(() => {
  root = makeTempDir("cli-run");
});

after(() => {
  removeTempDir(root);
});

/** A prefix with a configuration listening on `port`, its pid file and logs inside the prefix. */
function prefixListeningOn(port: number, withErrorLog = true): { prefix: string; pidFile: string } {
  const prefix = join(root, `p${++counter}`);
  writeTree(prefix, {
    "logs/.keep": "",
    "conf/nginx.conf": [
      "pid logs/wsgate.pid;",
      ...(withErrorLog ? ["error_log logs/error.log info;"] : []),
      "events {}",
      "http {",
      "    access_log logs/access.log;",
      "    server {",
      `        listen 127.0.0.1:${port};`,
      "        location / { proxy_pass http://127.0.0.1:9; }",
      "    }",
      "}",
      "",
    ].join("\n"),
  });
  return { prefix, pidFile: join(prefix, "logs/wsgate.pid") };
}

/**
 * Wait for the pid file; the moment it is seen the port must already accept
 * connections (wsgate binds first, then writes the pid file).
 */
async function waitUntilReady(started: Started, pidFile: string, port: number): Promise<string> {
  return pollFor(
    async () => {
      if (started.child.exitCode !== null) {
        throw new Error(`wsgate exited early (${started.child.exitCode}): ${started.stderr()}`);
      }
      const text = readIfExists(pidFile);
      if (text === undefined) return undefined;
      assert.equal(await connects(port), true, "the port accepts connections once the pid file exists");
      return text;
    },
    15_000,
    `the pid file ${pidFile}`,
  );
}

const FOREGROUND = ["-g", "daemon off;"];

describe("foreground", () => {
  test("the pid file appears once the port accepts, holds our pid; SIGQUIT exits 0 and removes it", async () => {
    const port = await freePort();
    const { prefix, pidFile } = prefixListeningOn(port);
    const started = startCli(["-p", prefix, ...FOREGROUND]);
    try {
      const text = await waitUntilReady(started, pidFile, port);
      assert.equal(text, `${started.child.pid}\n`, "the foreground process keeps its pid and writes it");
      assert.ok(existsSync(join(prefix, "logs/access.log")), "the access log is opened at start");

      started.child.kill("SIGQUIT");
      const exit = await within(started.exited, 15_000, "exit after SIGQUIT");
      assert.deepEqual(exit, { code: 0, signal: null }, started.stderr());
      assert.equal(existsSync(pidFile), false, "the pid file is removed");
      assert.equal(await connects(port), false, "the port is closed");
      assert.equal(started.stderr(), "", "nothing on stderr with an error_log file");
    } finally {
      killIfRunning(started.child);
    }
  });

  test("-s quit signals the process named by the pid file", async () => {
    const port = await freePort();
    const { prefix, pidFile } = prefixListeningOn(port);
    const started = startCli(["-p", prefix, ...FOREGROUND]);
    try {
      await waitUntilReady(started, pidFile, port);
      const quit = await runCli(["-p", prefix, "-s", "quit"]);
      assert.equal(quit.code, 0, quit.stderr);
      assert.match(quit.stderr, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[notice\] \d+#\d+: signal process started\n$/);
      const exit = await within(started.exited, 15_000, "exit after -s quit");
      assert.deepEqual(exit, { code: 0, signal: null }, started.stderr());
      assert.equal(existsSync(pidFile), false);
    } finally {
      killIfRunning(started.child);
    }
  });

  test("-s with no pid file: nginx's open() error, exit 1", async () => {
    const port = await freePort();
    const { prefix, pidFile } = prefixListeningOn(port);
    const result = await runCli(["-p", prefix, "-s", "stop"]);
    assert.equal(result.code, 1);
    // nginx's signalling process reports in the error log's format, on stderr.
    const [started, failed, ...rest] = result.stderr.split("\n");
    assert.match(started!, / \[notice\] \d+#\d+: signal process started$/);
    assert.match(failed!, / \[error\] (\d+)#\1: open\(\) "[^"]+" failed \(2: No such file or directory\)$/);
    assert.ok(failed!.includes(`open() "${pidFile}" failed`), failed);
    assert.deepEqual(rest, [""]);
  });

  test("a port already in use: the start fails with nginx's bind() error, exit 1, no pid file", async () => {
    const port = await freePort();
    const { prefix, pidFile } = prefixListeningOn(port);
    const first = startCli(["-p", prefix, ...FOREGROUND]);
    try {
      await waitUntilReady(first, pidFile, port);
      // The same server with its own pid file.
      writeTree(prefix, {
        "conf/second.conf": readFileSync(join(prefix, "conf/nginx.conf"), "latin1").replace(
          "pid logs/wsgate.pid;",
          "pid logs/second.pid;",
        ),
      });
      const second = await runCli(["-p", prefix, "-c", "conf/second.conf", ...FOREGROUND]);
      assert.equal(second.code, 1, second.stderr);
      assert.equal(
        lines(second.stderr)[0],
        `wsgate: [emerg] bind() to 127.0.0.1:${port} failed (98: Address already in use)`,
      );
      assert.equal(existsSync(join(prefix, "logs/second.pid")), false);
      assert.equal(readIfExists(pidFile), `${first.child.pid}\n`, "the running instance's pid file is untouched");
      first.child.kill("SIGTERM");
      assert.deepEqual(await within(first.exited, 15_000, "exit after SIGTERM"), { code: 0, signal: null });
    } finally {
      killIfRunning(first.child);
    }
  });
  test("-e stderr replaces the default error log (logs/error.log) when the file names none", async () => {
    for (const [args, expectFile] of [
      [[], true],
      [["-e", "stderr"], false],
    ] as const) {
      const port = await freePort();
      const { prefix, pidFile } = prefixListeningOn(port, false);
      const started = startCli(["-p", prefix, ...args, ...FOREGROUND]);
      try {
        await waitUntilReady(started, pidFile, port);
        assert.equal(existsSync(join(prefix, "logs/error.log")), expectFile, `with ${args.join(" ") || "no -e"}`);
        started.child.kill("SIGQUIT");
        assert.deepEqual(await within(started.exited, 15_000, "exit after SIGQUIT"), { code: 0, signal: null });
      } finally {
        killIfRunning(started.child);
      }
    }
  });
});

describe("daemon", () => {
  test("daemon on: the command returns 0, the pid file names a live process, -s stop ends it", async () => {
    const port = await freePort();
    const { prefix, pidFile } = prefixListeningOn(port);
    let pid: number | undefined;
    try {
      const start = await runCli(["-p", prefix], 20_000);
      assert.equal(start.code, 0, start.stderr);
      assert.equal(start.stderr, "");
      const text = readIfExists(pidFile);
      assert.ok(text !== undefined, "the pid file exists when the command returns");
      assert.match(text, /^\d+\n$/);
      pid = Number(text.trim());
      assert.equal(processAlive(pid), true, `process ${pid} is alive`);
      assert.equal(await connects(port), true, "the daemon listens");

      const stop = await runCli(["-p", prefix, "-s", "stop"]);
      assert.equal(stop.code, 0, stop.stderr);
      const stopped = pid;
      await pollFor(() => (processAlive(stopped) ? undefined : true), 15_000, `process ${stopped} to exit`, 20);
      await pollFor(() => (existsSync(pidFile) ? undefined : true), 5_000, "the pid file to be removed", 20);
      assert.equal(await connects(port), false);
    } finally {
      if (pid !== undefined && processAlive(pid)) process.kill(pid, "SIGKILL");
    }
  });
});
