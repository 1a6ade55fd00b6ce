/**
 * `-s` against a daemonised master (nginx's default `daemon on`), found
 * through its pid file: reload, reopen (after logrotate moved the logs, in
 * the master and every worker), quit; USR2 refused with a notice; nginx's
 * messages for a pid file that is missing or holds no PID.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../cli/run-cli.js";
import { freePorts, waitFor } from "../support/proxy.js";
import { exchange } from "../support/sockets.js";
import { until } from "../support/wait.js";
import {
  alive,
  echoBackend,
  killAll,
  openWs,
  proxyServer,
  roundTrip,
  startedWorkers,
  type EchoBackend,
} from "./harness.js";

describe("-s against a daemonised master", () => {
  let prefix: string;
  let a: EchoBackend;
  let b: EchoBackend;
  let port: number;
  let deadPort: number;
  let closedPort: number;
  let master = 0;
  // A second server proxies to a closed port: each request there makes its worker write an error line.
  const conf = (backend: EchoBackend): string =>
    `worker_processes 2;\npid logs/nginx.pid;\nerror_log logs/error.log info;\nevents { }\n` +
    `http {\naccess_log logs/access.log;\n${proxyServer(port, backend.port)}\n` +
    `server { listen 127.0.0.1:${deadPort}; location / { proxy_pass http://127.0.0.1:${closedPort}; } }\n}\n`;
  const log = (name = "error.log"): string => {
    const path = join(prefix, "logs", name);
    return existsSync(path) ? readFileSync(path, "latin1") : "";
  };
  const cli = (...args: string[]): ReturnType<typeof runCli> =>
    runCli(["-p", prefix + "/", "-c", "nginx.conf", ...args]);
  const backendNow = async (): Promise<string> => {
    const ws = await openWs(`ws://127.0.0.1:${port}/`);
    const answer = await roundTrip(ws, "which");
    ws.close();
    return answer.split(":")[0]!;
  };

  before(async () => {
    a = await echoBackend("A");
    b = await echoBackend("B");
    [port, deadPort, closedPort] = await freePorts(3);
    prefix = mkdtempSync(join(tmpdir(), "wsgate-signals-"));
    mkdirSync(join(prefix, "logs"));
    writeFileSync(join(prefix, "nginx.conf"), conf(a));
    const started = await cli();
    assert.equal(started.code, 0, started.stderr);
    master = Number(readFileSync(join(prefix, "logs", "nginx.pid"), "latin1"));
  });

  after(async () => {
    const workers = [...startedWorkers(log()), ...startedWorkers(log("error.log.1"))];
    killAll([master, ...workers]);
    await a.close();
    await b.close();
    rmSync(prefix, { recursive: true, force: true });
  });

  test("the command returned with a master and its workers running; the pid file holds the master", async () => {
    assert.ok(alive(master));
    const workers = startedWorkers(log());
    assert.equal(workers.length, 2);
    for (const worker of workers) assert.ok(alive(worker), `worker ${worker}`);
    assert.ok(!workers.includes(master));
    assert.equal(await backendNow(), "A");
  });

  test("-s reload: the new configuration serves new connections", async () => {
    writeFileSync(join(prefix, "nginx.conf"), conf(b));
    const reload = await cli("-s", "reload");
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stderr, /\[notice\] \d+#\d+: signal process started\n$/);
    await waitFor(() => startedWorkers(log()).length === 4, 15_000, "the new workers");
    // The new workers accept once they have loaded the configuration: ask until one answers.
    await until(async () => (await backendNow()) === "B", 15_000, "a new worker's answer", 50);
    assert.match(
      log(),
      new RegExp(`\\[notice\\] ${master}#${master}: signal 1 \\(SIGHUP\\) received, reconfiguring\\n`),
    );
  });

  test("-s reopen after the logs were moved: master and workers write to new files", async () => {
    await waitFor(
      () => /gracefully shutting down[^]*exited with code 0[^]*exited with code 0/.test(log()),
      10_000,
      "the old workers to go",
    );
    renameSync(join(prefix, "logs", "error.log"), join(prefix, "logs", "error.log.1"));
    renameSync(join(prefix, "logs", "access.log"), join(prefix, "logs", "access.log.1"));
    const workers = startedWorkers(log("error.log.1")).slice(2);
    const reopen = await cli("-s", "reopen");
    assert.equal(reopen.code, 0, reopen.stderr);
    // As nginx, each process says so in the file it is about to leave.
    await waitFor(
      () => [master, ...workers].every((pid) => log("error.log.1").includes(`[notice] ${pid}#${pid}: reopening logs`)),
      10_000,
      "reopening logs from the master and both workers",
    );
    // The notice is written before the files are reopened, and nothing marks the end of the reopening.
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Requests until both workers have had some (which accepts each is the kernel's choice): access lines, and
    // error lines from the dead upstream.
    const failedIn = (worker: number): boolean =>
      new RegExp(`\\[error\\] ${worker}#${worker}: \\*\\d+ connect\\(\\) failed`).test(log());
    for (let i = 0; i < 4 || (i < 40 && !workers.every(failedIn)); i++) {
      await backendNow();
      await exchange(deadPort, "GET / HTTP/1.0\r\n\r\n");
      await exchange(deadPort, "GET / HTTP/1.0\r\n\r\n");
    }
    await waitFor(() => log("access.log").split("\n").length > 12, 5000, "access-log lines in the new file");
    assert.match(log("access.log"), /"GET \/ HTTP\/1.1" 101 /);
    for (const worker of workers) assert.ok(failedIn(worker), `worker ${worker}`);
  });

  test("USR2 (binary upgrade) is refused with a notice; the master goes on", async () => {
    process.kill(master, "SIGUSR2");
    await waitFor(() => log().includes("not supported by wsgate"), 5000, "the notice");
    assert.match(log(), new RegExp(`\\[notice\\] ${master}#${master}: signal 12 \\(SIGUSR2\\) received, ignoring\\n`));
    assert.ok(alive(master));
    assert.equal(await backendNow(), "B");
  });

  test("-s quit: master and workers exit, the pid file is removed", async () => {
    const workers = [...startedWorkers(log("error.log.1")).slice(2), ...startedWorkers(log())];
    const quit = await cli("-s", "quit");
    assert.equal(quit.code, 0, quit.stderr);
    await waitFor(() => !alive(master) && workers.every((pid) => !alive(pid)), 10_000, "every process to exit");
    assert.equal(existsSync(join(prefix, "logs", "nginx.pid")), false);
    assert.match(log(), new RegExp(`\\[notice\\] ${master}#${master}: exit\\n$`));
  });

  test("-s with a pid file that holds no number, or a PID that is gone: nginx's messages, exit 1", async () => {
    const pidFile = join(prefix, "logs", "nginx.pid");
    writeFileSync(pidFile, "abc\n");
    const invalid = await cli("-s", "reload");
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /\[notice\] \d+#\d+: signal process started\n/);
    assert.ok(invalid.stderr.endsWith(`: invalid PID number "abc" in "${pidFile}"\n`), invalid.stderr);
    assert.match(invalid.stderr, /\[error\] \d+#\d+: invalid PID number/);
    const gonePid = 999_999;
    assert.equal(alive(gonePid), false);
    writeFileSync(pidFile, `${gonePid}\n`);
    const gone = await cli("-s", "reload");
    assert.equal(gone.code, 1);
    assert.match(
      gone.stderr,
      new RegExp(`\\[alert\\] \\d+#\\d+: kill\\(${gonePid}, 1\\) failed \\(3: No such process\\)\\n$`),
    );
    rmSync(pidFile);
  });
});
