/**
 * ngx_http_limit_req_module against nginx: the leaky bucket in thousandths
 * (rate=1r/m leaks nothing between requests a few ms apart, so statuses are
 * exact), burst with nodelay, burst with delays (the request waits, then is
 * served: timing with generous bounds, at 2r/s so that a slow machine's pace
 * cannot empty the bucket between two requests), delay=N, dry run, limit_req_status
 * and limit_req_log_level (the delay line one level lower), several
 * limit_req in a location (nginx's accounting of a non-last zone), a key
 * that is empty (not counted), the server's limit_req inherited by a
 * location without its own, an internal redirect not counted twice, and
 * $limit_req_status in the access log.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { comparableHead, settledLog, skipWithoutNginx, startPeer, startRecordingBackend, type Peer } from "./peers.js";
import { exchange, hasWholeResponse } from "../support/sockets.js";
import type { RecordingBackend } from "./peers.js";

const skip = skipWithoutNginx();

function conf(backend: number): string {
  const pass = `proxy_pass http://127.0.0.1:${backend};`;
  const zones = ["one", "two", "dry", "st", "srv", "rr", "m1", "m2"]
    .map((name) => `limit_req_zone $binary_remote_addr zone=${name}:1m rate=1r/m;`)
    .join("\n  ");
  return `
  log_format lr '$request_uri $status $limit_req_status';
  ${zones}
  limit_req_zone $http_x_key zone=keyed:1m rate=1r/m;
  limit_req_zone $binary_remote_addr zone=fast:1m rate=2r/s;
  limit_req_zone $binary_remote_addr zone=dl:1m rate=2r/s;
  server {
    listen PORT;
    access_log logs/lr.log lr;
    limit_req zone=srv;
    location /one { limit_req zone=one; ${pass} }
    location /burst { limit_req zone=two burst=2 nodelay; ${pass} }
    location /dry { limit_req zone=dry; limit_req_dry_run on; ${pass} }
    location /status { limit_req zone=st; limit_req_status 429; limit_req_log_level warn; ${pass} }
    location /delay { limit_req zone=fast burst=5; ${pass} }
    location /delayn { limit_req zone=dl burst=5 delay=2; ${pass} }
    location /inherit { ${pass} }
    location /redir { limit_req zone=rr; root /nonexistent; try_files $uri @target; }
    location @target { limit_req zone=rr; ${pass} }
    location /keyed { limit_req zone=keyed; ${pass} }
    location /multi { limit_req zone=m1 burst=1 nodelay; limit_req zone=m2; ${pass} }
  }`;
}

/** The requests, in order, each path as many times as given. */
const STEPS: ReadonlyArray<readonly [string, number]> = [
  ["/one", 3],
  ["/burst", 5],
  ["/dry", 2],
  ["/status", 2],
  ["/delay", 2],
  ["/delayn", 4],
  ["/inherit", 2],
  ["/redir", 2],
  ["/keyed", 2],
  ["/multi", 3],
];

interface Answer {
  readonly path: string;
  readonly response: string;
  readonly ms: number;
}

async function get(peer: Peer, path: string): Promise<Answer> {
  const start = performance.now();
  const reply = await exchange(
    peer.port,
    `GET ${path} HTTP/1.1\r\nHost: limits\r\nConnection: close\r\n\r\n`,
    hasWholeResponse,
  );
  const ms = performance.now() - start;
  const text = reply.toString("latin1");
  const body = text.slice(text.indexOf("\r\n\r\n") + 4).replace(/nginx\/[\d.]+|wsgate\/[\d.]+/g, "SERVER");
  return { path, response: [...comparableHead(reply), "", body].join("\n"), ms };
}

/** The limit_req error-log lines, without time, pid and connection; the excess kept apart (it leaks with time). */
function limitLines(peer: Peer): Array<{ line: string; excess: number }> {
  return peer
    .errorLog()
    .split("\n")
    .filter((line) => /limiting requests|delaying request/.test(line))
    .map((line) => {
      const excess = Number(/excess: (\d+\.\d{3})/.exec(line)?.[1]);
      const text = line.replace(/^\S+ \S+ (\[\w+\]) \d+#\d+: \*\d+ /, "$1 ").replace(/excess: \d+\.\d{3}/, "excess: E");
      return { line: text, excess };
    });
}

describe("differential: limit_req", { skip }, () => {
  let backend: RecordingBackend;
  const peers: Peer[] = [];
  const answers = new Map<string, Answer[]>();

  before(async () => {
    backend = await startRecordingBackend();
    for (const name of ["nginx", "wsgate"] as const) peers.push(await startPeer(name, conf(backend.port)));
    // One peer after the other, each through every step at once, so their buckets see the same pace.
    for (const peer of peers) {
      const seen: Answer[] = [];
      for (const [path, times] of STEPS) for (let i = 0; i < times; i++) seen.push(await get(peer, path));
      answers.set(peer.name, seen);
    }
  });
  after(async () => {
    for (const peer of peers) await peer.stop();
    await backend?.close();
  });

  test("statuses, headers and bodies", () => {
    const [nginx, wsgate] = [answers.get("nginx")!, answers.get("wsgate")!];
    const statuses = nginx.map((answer) => `${answer.path} ${answer.response.split("\n")[0]!.slice(9, 12)}`);
    assert.ok(statuses.includes("/one 503") && statuses.includes("/status 429"), statuses.join("\n"));
    assert.deepEqual(
      wsgate.map((answer) => `${answer.path}\n${answer.response}`),
      nginx.map((answer) => `${answer.path}\n${answer.response}`),
    );
  });

  test("$limit_req_status in the access log", async () => {
    const [nginx, wsgate] = await Promise.all(peers.map((peer) => settledLog(peer, "lr.log")));
    for (const status of ["PASSED", "REJECTED", "DELAYED", "REJECTED_DRY_RUN"]) {
      assert.ok(
        nginx!.some((line) => line.endsWith(` ${status}`)),
        `${status} in\n${nginx!.join("\n")}`,
      );
    }
    assert.deepEqual(wsgate, nginx);
  });

  test("the error-log lines, their levels and the excess", () => {
    const [nginx, wsgate] = peers.map(limitLines);
    assert.ok(
      nginx!.some(({ line }) => line.startsWith("[warn] delaying request, excess: E, by zone")),
      JSON.stringify(nginx),
    );
    assert.deepEqual(
      wsgate!.map(({ line }) => line),
      nginx!.map(({ line }) => line),
    );
    // The excess: the 1r/m zones leak under 0.016 a second, so it is nginx's to the hundredth; the 2r/s
    // zones leak 0.002 a millisecond, so there it depends on each peer's pace (bounded by the burst).
    nginx!.forEach(({ line, excess }, i) => {
      const theirs = wsgate![i]!.excess;
      const near = /zone "(fast|dl)"/.test(line) ? theirs > 0 && theirs <= 5 : Math.abs(theirs - excess) <= 0.02;
      assert.ok(near, `${line}: wsgate ${theirs}, nginx ${excess}`);
    });
  });

  test("a delayed request waits, then is served", () => {
    for (const peer of peers) {
      const seen = answers.get(peer.name)!;
      const delay = seen.filter((answer) => answer.path === "/delay");
      assert.ok(delay[0]!.ms < 1000, `${peer.name}: the first at once (${delay[0]!.ms} ms)`);
      assert.ok(
        delay[1]!.ms >= 200 && delay[1]!.ms < 2000,
        `${peer.name}: the second waits ~500 ms (${delay[1]!.ms} ms)`,
      );
      const delayn = seen.filter((answer) => answer.path === "/delayn");
      assert.ok(
        delayn[3]!.ms >= 200 && delayn[3]!.ms < 2000,
        `${peer.name}: the 4th past delay=2 waits (${delayn[3]!.ms} ms)`,
      );
    }
  });
});
