/**
 * The tunnel's send limits, on stand-in tunnels whose sockets only report
 * what they have queued: a stalled side is cut off once the tunnel has been
 * quiet for its limit; progress (the queue shrinking) and activity re-arm it;
 * a drain stops it; with both sides stalled the shorter limit fires; and the
 * error-log lines are nginx's.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { Socket } from "node:net";
import type { TunnelOptions } from "../../src/proxy/tunnel-options.js";
import {
  CLIENT_SIDE,
  watchTunnel,
  UPSTREAM_SIDE,
  forgetTunnel,
  sideDrained,
  sideStalled,
  timeoutLine,
  type TimedTunnel,
  type TimerEnd,
} from "../../src/proxy/tunnel-timers.js";

class StandIn implements TimedTunnel {
  lastActiveMs = Date.now();
  stalled = 0;
  clientQueued = 0;
  upstreamQueued = 0;
  readonly client = { writableLength: 65536 } as Socket & { writableLength: number };
  readonly upstream = { writableLength: 65536, readableLength: 0 } as Socket & {
    writableLength: number;
    readableLength: number;
  };
  ended: TimerEnd | undefined;
  readonly endedAt: Promise<number>;
  private resolve!: (at: number) => void;

  constructor(readonly options: TunnelOptions) {
    this.endedAt = new Promise((resolve) => (this.resolve = resolve));
  }

  expire(how: TimerEnd): void {
    this.ended = how;
    this.resolve(Date.now());
  }
}

function options(clientMs: number, upstreamMs: number, idleMs = 0): TunnelOptions {
  return {
    idleTimeoutMs: idleMs,
    clientSendTimeoutMs: clientMs,
    upstreamSendTimeoutMs: upstreamMs,
    followFrames: false,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** When `tunnel` ended, or undefined if it did not within `ms`. */
async function endedWithin(tunnel: StandIn, ms: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    tunnel.endedAt,
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
  ]);
  clearTimeout(timer);
  return result;
}

describe("tunnel send limits", () => {
  test("a stalled client is cut off after send_timeout of quiet, not before", async () => {
    const tunnel = new StandIn(options(400, 60_000));
    const start = Date.now();
    tunnel.lastActiveMs = start;
    sideStalled(tunnel, CLIENT_SIDE);
    const at = await endedWithin(tunnel, 2000);
    assert.ok(at !== undefined, "it ended");
    assert.ok(at - start >= 400 && at - start < 400 + 1000, `after ${at - start} ms`);
    assert.equal(tunnel.ended, "client timed out");
    forgetTunnel(tunnel);
  });

  test("a stalled upstream is cut off after proxy_send_timeout", async () => {
    const tunnel = new StandIn(options(60_000, 300));
    sideStalled(tunnel, UPSTREAM_SIDE);
    assert.ok((await endedWithin(tunnel, 2000)) !== undefined);
    assert.equal(tunnel.ended, "upstream send timed out");
    forgetTunnel(tunnel);
  });

  test("a peer that keeps taking bytes, however slowly, is not cut off; once it stops, it is", async () => {
    const tunnel = new StandIn(options(400, 60_000));
    sideStalled(tunnel, CLIENT_SIDE);
    for (let i = 0; i < 8; i++) {
      await sleep(150);
      tunnel.client.writableLength -= 1024;
    }
    assert.equal(tunnel.ended, undefined, "progress re-armed the limit");
    assert.ok((await endedWithin(tunnel, 2000)) !== undefined);
    assert.equal(tunnel.ended, "client timed out");
    forgetTunnel(tunnel);
  });

  test("activity in the other direction re-arms it too, as every event re-arms nginx's timers", async () => {
    const tunnel = new StandIn(options(400, 60_000));
    sideStalled(tunnel, CLIENT_SIDE);
    for (let i = 0; i < 8; i++) {
      await sleep(150);
      tunnel.lastActiveMs = Date.now();
    }
    assert.equal(tunnel.ended, undefined);
    forgetTunnel(tunnel);
  });

  test("a drain before the limit stops it", async () => {
    const tunnel = new StandIn(options(300, 300));
    sideStalled(tunnel, CLIENT_SIDE);
    sideStalled(tunnel, UPSTREAM_SIDE);
    await sleep(100);
    sideDrained(tunnel, CLIENT_SIDE);
    sideDrained(tunnel, UPSTREAM_SIDE);
    assert.equal(tunnel.stalled, 0);
    assert.equal(await endedWithin(tunnel, 800), undefined);
    forgetTunnel(tunnel);
  });

  test("both sides stalled: the shorter limit is the one that fired", async () => {
    for (const [clientMs, upstreamMs, expected] of [
      [300, 600, "client timed out"],
      [600, 300, "upstream send timed out"],
    ] as const) {
      const tunnel = new StandIn(options(clientMs, upstreamMs));
      // Quiet for longer than both already: one sweep sees both late.
      tunnel.lastActiveMs = Date.now() - 1000;
      sideStalled(tunnel, CLIENT_SIDE);
      sideStalled(tunnel, UPSTREAM_SIDE);
      assert.ok((await endedWithin(tunnel, 2000)) !== undefined);
      assert.equal(tunnel.ended, expected);
      forgetTunnel(tunnel);
    }
  });

  test("proxy_read_timeout does not run while the client is stalled and the upstream has more to send", async () => {
    const more = new StandIn(options(60_000, 60_000, 200));
    more.upstream.readableLength = 4096;
    const idle = new StandIn(options(60_000, 60_000, 200));
    for (const tunnel of [more, idle]) {
      watchTunnel(tunnel);
      sideStalled(tunnel, CLIENT_SIDE);
    }
    // The read limits are swept once a second.
    assert.ok((await endedWithin(idle, 2500)) !== undefined, "an upstream with nothing more: the read limit runs");
    assert.equal(idle.ended, "upstream timed out");
    assert.equal(await endedWithin(more, 500), undefined, "an upstream held back: send_timeout decides");
    for (const tunnel of [more, idle]) forgetTunnel(tunnel);
  });

  test("a side with bytes waiting, though no write returned false, is found stalled within a second", async () => {
    const waiting = new StandIn(options(300, 60_000));
    waiting.client.writableLength = 100;
    waiting.upstream.writableLength = 0;
    const empty = new StandIn(options(300, 300));
    empty.client.writableLength = 0;
    empty.upstream.writableLength = 0;
    for (const tunnel of [waiting, empty]) watchTunnel(tunnel);
    assert.ok((await endedWithin(waiting, 2500)) !== undefined, "send_timeout ran");
    assert.equal(waiting.ended, "client timed out");
    assert.equal(empty.stalled, 0, "nothing waits: not stalled");
    assert.equal(empty.ended, undefined);
    for (const tunnel of [waiting, empty]) forgetTunnel(tunnel);
  });

  test("a stalled side whose queue empties is let go, even without a drain", async () => {
    const tunnel = new StandIn(options(400, 60_000));
    sideStalled(tunnel, CLIENT_SIDE);
    tunnel.client.writableLength = 0;
    assert.equal(await endedWithin(tunnel, 900), undefined);
    assert.equal(tunnel.stalled, 0);
    forgetTunnel(tunnel);
  });

  test("nginx's error-log lines", () => {
    const suffix = " (110: Connection timed out) while proxying upgraded connection";
    assert.deepEqual(timeoutLine("client timed out"), { level: "info", message: `client timed out${suffix}` });
    assert.deepEqual(timeoutLine("upstream send timed out"), { level: "info", message: `upstream timed out${suffix}` });
    assert.deepEqual(timeoutLine("upstream timed out"), { level: "info", message: `upstream timed out${suffix}` });
    assert.equal(timeoutLine("client closed"), undefined);
  });
});
