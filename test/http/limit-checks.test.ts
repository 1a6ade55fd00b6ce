/**
 * The limit_conn and limit_req checks where the zones are in the process
 * (`master_process off`): they answer at once, without a Promise, except a
 * limit_req delay, which waits on a timer; the request's status variables;
 * a limit_conn slot held until the request's cleanups run.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.js";
import { limitConnCheck } from "../../src/http/limit-conn.js";
import { limitReqCheck } from "../../src/http/limit-req.js";
import { runCleanups, type HttpRequest } from "../../src/http/request.js";
import type { PhaseContext } from "../../src/http/phase-checks.js";
import type { ErrorLog } from "../../src/log/error-log.js";
import type { LocConf } from "../../src/config/model.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { join } from "node:path";

async function locations(http: string): Promise<Map<string, LocConf>> {
  const prefix = makeTempDir();
  try {
    writeTree(prefix, { "nginx.conf": `events {}\nhttp {\n${http}\n}\n` });
    const config = await loadConfig({ prefix, confFile: join(prefix, "nginx.conf") });
    return new Map(config.http!.servers[0]!.locations.map((location) => [location.path, location.loc]));
  } finally {
    removeTempDir(prefix);
  }
}

/** Just what the checks read of a request. */
function request(loc: LocConf, address = "10.0.0.1"): HttpRequest {
  return {
    loc,
    remoteAddress: address,
    headers: [],
    captures: undefined,
    variableCache: [],
    finished: false,
    cleanups: undefined,
    limitConnStatus: undefined,
    limitReqStatus: undefined,
    logContext: () => ({ connectionId: 1, client: address, server: "", request: "GET / HTTP/1.1" }),
  } as unknown as HttpRequest;
}

function context(): { context: PhaseContext; lines: string[] } {
  const lines: string[] = [];
  const log = { log: (level: string, message: string) => lines.push(`[${level}] ${message}`) } as unknown as ErrorLog;
  const subrequest = (): never => assert.fail("limit checks make no subrequest");
  return { context: { log, subrequest }, lines };
}

describe("limit checks in a single process", () => {
  test("limit_conn answers at once; the slot is held until the request's cleanups run", async () => {
    const locs = await locations(`limit_conn_zone $remote_addr zone=c:1m;\nserver { location /c { limit_conn c 1; } }`);
    const { context: ctx, lines } = context();
    const first = request(locs.get("/c")!);
    assert.deepEqual(limitConnCheck(first, ctx), { kind: "declined" });
    assert.equal(first.limitConnStatus, "PASSED");
    const second = request(locs.get("/c")!);
    assert.deepEqual(limitConnCheck(second, ctx), { kind: "status", status: 503 });
    assert.equal(second.limitConnStatus, "REJECTED");
    assert.deepEqual(lines, [`[error] limiting connections by zone "c"`]);
    assert.deepEqual(limitConnCheck(second, ctx), { kind: "declined" }, "counted once (r->main)");
    runCleanups(first);
    assert.deepEqual(limitConnCheck(request(locs.get("/c")!), ctx), { kind: "declined" });
  });

  test("limit_req answers at once, and waits on a timer when it delays", async () => {
    const locs = await locations(
      `limit_req_zone $remote_addr zone=r:1m rate=20r/s;\nserver { location /r { limit_req zone=r burst=3; } }`,
    );
    const { context: ctx, lines } = context();
    const loc = locs.get("/r")!;
    assert.deepEqual(limitReqCheck(request(loc, "10.0.0.2"), ctx), { kind: "declined" });
    const delayed = request(loc, "10.0.0.2");
    const start = performance.now();
    const answer = limitReqCheck(delayed, ctx);
    assert.ok(answer instanceof Promise, "a delay");
    assert.equal(delayed.limitReqStatus, "DELAYED");
    assert.deepEqual(await answer, { kind: "declined" });
    assert.ok(performance.now() - start >= 20, "about 50 ms");
    // The second request within the same millisecond as the first has an excess of exactly 1.000.
    assert.match(lines[0]!, /^\[warn\] delaying request, excess: (0\.\d{3}|1\.000), by zone "r"$/);
  });
});
