/**
 * A worker's client of the master's zones, with the master played by the
 * test: answers matched by id, an operation that gets no answer in time fails
 * (the limits then refuse) with an alert, and a slot granted after the worker
 * stopped waiting is given back when the late answer arrives.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ZoneClient } from "../../src/process/zone-client.js";
import { ZoneUnavailable, type ZoneRef } from "../../src/http/shared-zones.js";
import type { FromWorker } from "../../src/process/ipc.js";
import type { ErrorLog } from "../../src/log/error-log.js";

const zone: ZoneRef = { kind: "limit_conn", name: "perip", size: 1 << 20, key: "$binary_remote_addr" };

function client(answerMs = 5000): { zones: ZoneClient; sent: FromWorker[]; alerts: string[] } {
  const sent: FromWorker[] = [];
  const alerts: string[] = [];
  const log = { log: (level: string, message: string) => alerts.push(`[${level}] ${message}`) } as unknown as ErrorLog;
  const zones = new ZoneClient(
    (message) => (sent.push(message), true),
    () => log,
    answerMs,
  );
  return { zones, sent, alerts };
}

describe("the worker's zone client", () => {
  test("each operation is a message with its id; answers resolve their own operation", async () => {
    const { zones, sent } = client();
    const first = zones.apply({ op: "conn-take", zone, key: "a", limit: 1 });
    const second = zones.apply({ op: "conn-take", zone, key: "b", limit: 1 });
    assert.ok(first instanceof Promise && second instanceof Promise);
    const ids = sent.map((message) => (message.wsgate === "zone" ? message.id : -1));
    assert.equal(new Set(ids).size, 2);
    zones.answered(ids[1]!, "limited");
    zones.answered(ids[0]!, "passed");
    assert.equal(await first, "passed");
    assert.equal(await second, "limited");
    // A give awaits nothing: id 0.
    assert.equal(zones.apply({ op: "conn-give", zone, key: "a" }), null);
    assert.deepEqual(sent[2], { wsgate: "zone", id: 0, op: { op: "conn-give", zone, key: "a" } });
  });

  test("no answer in time: ZoneUnavailable and an alert; a late grant is given back", async () => {
    const { zones, sent, alerts } = client(50);
    const take = zones.apply({ op: "conn-take", zone, key: "a", limit: 1 });
    await assert.rejects(Promise.resolve(take), ZoneUnavailable);
    assert.deepEqual(alerts, [`[alert] the master process did not answer within 50ms for zone "perip"`]);
    const id = sent[0]!.wsgate === "zone" ? sent[0]!.id : -1;
    zones.answered(id, "passed");
    assert.deepEqual(sent[1], { wsgate: "zone", id: 0, op: { op: "conn-give", zone, key: "a" } });
    zones.answered(id, "passed");
    assert.equal(sent.length, 2, "given back once");
  });

  test("a master that cannot be reached fails the operation at once", async () => {
    const zones = new ZoneClient(
      () => false,
      () => undefined,
      5000,
    );
    await assert.rejects(Promise.resolve(zones.apply({ op: "req-check", limits: [] })), ZoneUnavailable);
  });
});
