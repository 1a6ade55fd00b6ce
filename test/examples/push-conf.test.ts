/**
 * examples/push/nginx.conf is an nginx file first: wsgate accepts it as it
 * is (`wsgate -t`), and with its wsgate_ lines (pings, health checks) taken
 * out Debian's nginx accepts the rest (`nginx -t`). A file nginx refuses
 * fails here with nginx's own message.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nginxAvailable, nginxSkip } from "../support/nginx.js";
import { ROOT, WSGATE_BIN } from "../support/proxy.js";

const CONF = readFileSync(join(ROOT, "examples", "push", "nginx.conf"), "utf8");

/** `binary -t` on `text` as nginx.conf in a fresh prefix: its exit status and what it wrote. */
function check(command: readonly string[], text: string): { status: number | null; output: string } {
  const prefix = mkdtempSync(join(tmpdir(), "wsgate-push-conf-"));
  try {
    mkdirSync(join(prefix, "logs"));
    writeFileSync(join(prefix, "nginx.conf"), text);
    const run = spawnSync(command[0]!, [...command.slice(1), "-t", "-p", prefix, "-c", "nginx.conf"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}

test("wsgate -t accepts examples/push/nginx.conf", () => {
  const result = check([process.execPath, WSGATE_BIN], CONF);
  assert.equal(result.status, 0, result.output);
  assert.match(result.output, /test is successful/);
});

test("nginx -t accepts examples/push/nginx.conf without its wsgate_ lines", { skip: nginxSkip() }, () => {
  const withoutWsgate = CONF.split("\n")
    .filter((line) => !/^\s*wsgate_/.test(line))
    .join("\n");
  assert.notEqual(withoutWsgate, CONF, "the file has wsgate_ lines to take out");
  const result = check([nginxAvailable()!], withoutWsgate);
  assert.equal(result.status, 0, result.output);
  assert.match(result.output, /test is successful/);
});
