/**
 * examples/push as a user runs it: Redis, two backends and wsgate with the
 * shipped nginx.conf (ports replaced), all real processes on loopback,
 * started and stopped here. Subscribers held on both backends (each one's
 * "subscribed" message names its backend) receive a notification published
 * over HTTP through wsgate, whichever backend the publish reached; a
 * subscriber of another topic receives nothing of it; and a small run of
 * load.ts completes with sane figures.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { WebSocket } from "ws";
import { redisMissing } from "../../examples/shared/redis-server.js";
import { startPushCluster, type PushCluster } from "../../examples/push/cluster.js";
import { runPushLoad } from "../../examples/push/load.js";
import type { Notification } from "../../examples/push/backend.js";
import { until, withTimeout } from "../support/wait.js";

interface Subscriber {
  readonly ws: WebSocket;
  readonly backend: string;
  readonly received: Notification[];
}

function subscribe(cluster: PushCluster, topics: string): Promise<Subscriber> {
  const ws = new WebSocket(`ws://127.0.0.1:${cluster.port}/subscribe?topics=${topics}`);
  const received: Notification[] = [];
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once("error", reject);
      ws.on("message", (data: Buffer) => {
        const message = JSON.parse(data.toString("utf8")) as Notification | { type: "subscribed"; backend: string };
        if (message.type === "subscribed") resolve({ ws, backend: message.backend, received });
        else received.push(message);
      });
    }),
    10_000,
    `a subscription to ${topics}`,
  );
}

async function publish(cluster: PushCluster, topic: string, message: string): Promise<string> {
  const response = await fetch(`${cluster.url}/publish`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ topic, message }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { backend: string; backends: number };
  assert.equal(response.status, 202, JSON.stringify(body));
  // Every backend holds one subscription of Redis: PUBLISH reached both.
  assert.equal(body.backends, 2);
  return body.backend;
}

describe("examples/push: notifications over two backends and Redis", { skip: redisMissing(), timeout: 120_000 }, () => {
  let cluster: PushCluster;
  const subscribers: Subscriber[] = [];

  before(async () => {
    cluster = await startPushCluster();
  });

  after(async () => {
    for (const subscriber of subscribers) subscriber.ws.terminate();
    await cluster?.stop();
  });

  test("subscribers on both backends receive each publish, whichever backend took it", async () => {
    // least_conn per worker: a few subscribers are enough to have both backends.
    while (new Set(subscribers.map((s) => s.backend)).size < 2) {
      assert.ok(subscribers.length < 10, `all subscribers on ${subscribers[0]?.backend}`);
      subscribers.push(await subscribe(cluster, "news,sport"));
    }
    const other = await subscribe(cluster, "weather");
    subscribers.push(other);
    // Publish until both backends have taken a publish (round-robin; each worker keeps its own turn).
    const via = new Set<string>();
    for (let n = 0; via.size < 2; n++) {
      assert.ok(n < 10, `every publish went to ${[...via].join()}`);
      via.add(await publish(cluster, "news", `breaking ${n}`));
      const sent = n + 1;
      await until(
        () => subscribers.filter((s) => s !== other).every((s) => s.received.length === sent),
        10_000,
        `notification ${n} at every news subscriber`,
      );
    }
    for (const subscriber of subscribers.filter((s) => s !== other)) {
      assert.deepEqual(
        subscriber.received.map((n) => n.message),
        subscriber.received.map((_, i) => `breaking ${i}`),
      );
      // Delivered by the backend that holds the subscriber, published through either.
      assert.ok(subscriber.received.every((n) => n.deliveredBy === subscriber.backend && n.topic === "news"));
    }
    const publishedVia = new Set(subscribers[0]!.received.map((n) => n.publishedVia));
    assert.deepEqual([...publishedVia].sort(), ["backend-1", "backend-2"]);
    // Topics are respected: the weather subscriber got none of it, and gets its own.
    assert.equal(other.received.length, 0);
    await publish(cluster, "weather", "rain");
    await until(() => other.received.length === 1, 10_000, "the weather notification");
    assert.equal(other.received[0]!.message, "rain");
  });

  test("a publish that is not a POST, or has no topic, is refused", async () => {
    const get = await fetch(`${cluster.url}/publish`, { signal: AbortSignal.timeout(10_000) });
    await get.arrayBuffer();
    // limit_except POST { deny all; }: nginx's 403 for any other method.
    assert.equal(get.status, 403);
    const bad = await fetch(`${cluster.url}/publish`, {
      method: "POST",
      body: JSON.stringify({ message: "no topic" }),
      signal: AbortSignal.timeout(10_000),
    });
    await bad.arrayBuffer();
    assert.equal(bad.status, 400);
  });

  // Last: it kills a backend.
  test("a backend that dies: its subscribers are closed, new ones and publishes go to the live one", async () => {
    const dead = cluster.backends[1]!;
    const onDead = subscribers.filter((s) => s.backend === dead.name);
    assert.ok(onDead.length > 0);
    const closed = onDead.map((s) => new Promise((resolve) => s.ws.once("close", resolve)));
    dead.child.kill("SIGKILL");
    // wsgate closes the client side of every tunnel whose upstream went away.
    await withTimeout(Promise.all(closed), 10_000, "the dead backend's subscribers closing");
    const again = await subscribe(cluster, "news");
    subscribers.push(again);
    assert.equal(again.backend, "backend-1");
    // Publishes keep working: a refused connection to the dead one goes on to the next (proxy_next_upstream).
    for (let n = 0; n < 4; n++) {
      const response = await fetch(`${cluster.url}/publish`, {
        method: "POST",
        body: JSON.stringify({ topic: "news", message: `after ${n}` }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as { backend: string; backends: number };
      assert.equal(response.status, 202);
      assert.deepEqual([body.backend, body.backends], ["backend-1", 1]);
    }
    await until(() => again.received.length === 4, 10_000, "the notifications after the backend died");
    assert.deepEqual(
      again.received.map((n) => n.message),
      ["after 0", "after 1", "after 2", "after 3"],
    );
  });
});

describe("examples/push/load.ts, a small run", { skip: redisMissing(), timeout: 120_000 }, () => {
  test("200 subscribers, 5 notifications: every delivery made, figures reported", async () => {
    const report = await runPushLoad({ subscribers: 200, notifications: 5, batch: 50, timeLimitMs: 90_000 });
    assert.equal(report.subscribers, 200);
    assert.deepEqual(Object.keys(report.perBackend).sort(), ["backend-1", "backend-2"]);
    assert.equal(
      Object.values(report.perBackend).reduce((a, b) => a + b, 0),
      200,
    );
    assert.equal(report.deliveries, report.expectedDeliveries);
    assert.equal(report.expectedDeliveries, 1000);
    assert.ok(report.latencyMs.p50 > 0 && report.latencyMs.p50 <= report.latencyMs.p99, JSON.stringify(report));
    assert.ok(report.wsgate.processes >= 2, "the master and at least one worker measured");
    assert.ok(report.wsgate.rssBeforeKiB > 10_000 && report.backends.rssBeforeKiB > 10_000, JSON.stringify(report));
    assert.ok(Number.isFinite(report.wsgate.perSubscriberKiB) && Number.isFinite(report.backends.perSubscriberKiB));
  });
});
