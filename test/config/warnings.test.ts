/**
 * Configuration warnings as nginx gives them: "low address bits … are
 * meaningless" for allow/deny, and "conflicting server name … ignored" for a
 * name already taken on an address (exact, ".name", "*.name", "name.*", the
 * default "" of servers without server_name). `wsgate -t` prints the same
 * warnings, in the same order, as `nginx -t` for the same file; a started
 * wsgate logs them in its error log; the first server with a name keeps it.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { join } from "node:path";
import { makeTempDir, nginxTest, removeTempDir, writeTree } from "../support/config-files.js";
import { runCli } from "../cli/run-cli.js";
import { startWsgate, freePort } from "../support/proxy.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";

function conf(a: number, b: number): string {
  return `events {}
http {
  server { listen 127.0.0.1:${a}; return 200 "first\\n"; }
  server { listen 127.0.0.1:${a}; return 200 "second\\n"; allow 10.1.2.3/8; deny ::1/64; allow 10.0.0.0/8; allow all; }
  server { listen 127.0.0.1:${b}; server_name a *.b.com .c.com c.com A; return 200 "third\\n"; }
  server { listen 127.0.0.1:${b}; server_name a *.b.com d ~^x$ ~^x$ www.c.com .b.com x.* x.*; return 200 "fourth\\n"; }
  server { listen 127.0.0.1:${b}; server_name e.com; return 200 "fifth\\n"; }
  server { listen 127.0.0.1:${b}; server_name .e.com; return 200 "sixth\\n"; }
}
`;
}

/** The [warn] messages of a -t run, without the program name or the error-log line's date and pid. */
function warnings(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.includes("[warn] "))
    .map((line) => line.slice(line.indexOf("[warn] ") + 7).replace(/^\d+#\d+: /, ""));
}

describe("configuration warnings", () => {
  test("wsgate -t prints nginx -t's warnings, in its order", async () => {
    const prefix = makeTempDir();
    try {
      writeTree(prefix, { "nginx.conf": conf(await freePort(), await freePort()) });
      const file = join(prefix, "nginx.conf");
      const wsgate = await runCli(["-t", "-q", "-p", prefix, "-c", file]);
      assert.equal(wsgate.code, 0, wsgate.stderr);
      const got = warnings(wsgate.stderr);
      assert.deepEqual(got.slice(0, 2), [
        `low address bits of 10.1.2.3/8 are meaningless in ${file}:4`,
        `low address bits of ::1/64 are meaningless in ${file}:4`,
      ]);
      assert.equal(got.length, 10, got.join("\n"));
      assert.match(wsgate.stderr, /^wsgate: \[warn\] /m);
      const nginx = nginxTest({ prefix, confFile: file });
      if (nginx) assert.deepEqual(got, warnings(nginx.stderr), nginx.stderr);
    } finally {
      removeTempDir(prefix);
    }
  });

  test("a started wsgate logs them, and the first server with a name keeps it", async () => {
    const [a, b] = [await freePort(), await freePort()];
    const wsgate = await startWsgate({
      conf: conf(a, b).replace("events {}", "master_process off;\nerror_log logs/error.log warn;\nevents {}"),
    });
    try {
      const log = wsgate.errorLog();
      assert.match(log, /\[warn\] \d+#\d+: low address bits of 10\.1\.2\.3\/8 are meaningless in /);
      assert.match(
        log,
        new RegExp(`\\[warn\\] \\d+#\\d+: conflicting server name "" on 127\\.0\\.0\\.1:${a}, ignored`),
      );
      const ask = async (port: number, host: string): Promise<string> => {
        const reply = await exchange(
          port,
          `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
          hasWholeResponse,
        );
        return reply.toString("latin1").split("\r\n\r\n")[1]!;
      };
      assert.equal(await ask(a, "anything"), "first\n");
      assert.equal(await ask(b, "a"), "third\n");
      assert.equal(await ask(b, "x.b.com"), "third\n");
      assert.equal(await ask(b, "d"), "fourth\n");
      // ".e.com" conflicts with "e.com" as a whole: www.e.com goes to the address's default server, as in nginx.
      assert.equal(await ask(b, "e.com"), "fifth\n");
      assert.equal(await ask(b, "www.e.com"), "third\n");
    } finally {
      await wsgate.stop();
    }
  });
});
