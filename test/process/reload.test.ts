/**
 * Reload under load: WebSocket clients keep echoing on long-lived tunnels and
 * new connections keep opening while the master is reloaded five times, once
 * with a broken configuration. No message on an old tunnel is lost or
 * duplicated, no connection attempt is refused (while no worker accepts, a
 * connection waits in the listen backlog), the broken configuration changes
 * nothing, and each good one is in force for new connections once the old
 * workers have stopped accepting (until then both generations accept, as in
 * nginx).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { WebSocket } from "ws";
import { startWsgate, freePort, waitFor, type WsgateProcess } from "../support/proxy.js";
import { until } from "../support/wait.js";
import {
  echoBackend,
  httpGet,
  killAll,
  openWs,
  processConf,
  proxyServer,
  roundTrip,
  startedWorkers,
  writeConf,
  type EchoBackend,
} from "./harness.js";

/** A tunnel that keeps a window of messages in flight and checks each answer is the next one expected. */
class Pump {
  sent = 0;
  received = 0;
  readonly errors: string[] = [];
  private running = true;
  private backend: string | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly id: number,
  ) {
    ws.on("message", (data) => {
      const text = String(data);
      const [name, body] = text.split(":");
      this.backend ??= name;
      const expected = `c${this.id}-${this.received}`;
      if (name !== this.backend || body !== expected) this.errors.push(`got "${text}", expected "${expected}"`);
      this.received++;
      if (this.running) this.send();
    });
    ws.on("close", () => {
      if (this.running) this.errors.push(`tunnel ${id} closed`);
    });
    for (let i = 0; i < 4; i++) this.send();
  }

  private send(): void {
    this.ws.send(`c${this.id}-${this.sent++}`);
  }

  /** Stop sending; resolve when every message sent has come back (or after `ms`). */
  async finish(ms = 5000): Promise<void> {
    this.running = false;
    await waitFor(() => this.received === this.sent, ms, `tunnel ${this.id}: ${this.received} of ${this.sent} answers`);
  }

  get backendName(): string | undefined {
    return this.backend;
  }
}

describe("reload (HUP) under load", () => {
  let a: EchoBackend;
  let b: EchoBackend;
  let port: number;
  let wsgate: WsgateProcess;
  const conf = (backend: EchoBackend, extra = ""): string =>
    processConf("worker_processes 2;", `${proxyServer(port, backend.port)}\n${extra}`);

  before(async () => {
    a = await echoBackend("A");
    b = await echoBackend("B");
    port = await freePort();
    wsgate = await startWsgate({ conf: conf(a) });
  });

  after(async () => {
    const workers = startedWorkers(wsgate.errorLog());
    await wsgate.stop("SIGTERM");
    killAll(workers);
    await a.close();
    await b.close();
  });

  test("5 reloads, one broken: no message lost or doubled, no refused connection, new config for new connections", async () => {
    const url = `ws://127.0.0.1:${port}/`;
    const pumps: Pump[] = [];
    for (let i = 0; i < 12; i++) pumps.push(new Pump(await openWs(url), i));

    // New connections all along: each one exchange, then close; any failure is recorded.
    const fresh: Array<{ at: number; backend: string }> = [];
    const refused: string[] = [];
    let opening = true;
    const opener = (async () => {
      while (opening) {
        try {
          const ws = await openWs(url);
          const answer = await roundTrip(ws, "hello");
          fresh.push({ at: Date.now(), backend: answer.split(":")[0]! });
          ws.close();
        } catch (err) {
          refused.push(String(err));
        }
      }
    })();

    const newestBackend = async (): Promise<string> => {
      const ws = await openWs(url);
      const answer = await roundTrip(ws, "which");
      ws.close();
      return answer.split(":")[0]!;
    };
    const reloadTo = async (text: string): Promise<void> => {
      writeConf(wsgate.prefix, text);
      process.kill(wsgate.pid, "SIGHUP");
    };

    const steps: Array<{ backend: EchoBackend | undefined }> = [
      { backend: b },
      { backend: a },
      { backend: undefined },
      { backend: b },
      { backend: a },
    ];
    // An HTTP request in flight across the first reload completes, from the old configuration.
    const slow = httpGet(port, "/slow?delay=1500");
    await a.requested("/slow?delay=1500");
    let inForce = "A";
    let goodReloads = 0;
    const shuttingDown = (): number => (wsgate.errorLog().match(/gracefully shutting down\n/g) ?? []).length;
    for (const [index, step] of steps.entries()) {
      if (step.backend) {
        await reloadTo(conf(step.backend));
        const want = step.backend.name;
        // No event marks the new workers taking over: ask until they answer.
        await until(
          async () => (await newestBackend()) === want,
          15_000,
          `reload ${index + 1}: new connections to reach ${want}`,
          50,
        );
        // The old workers log this once they have closed their listening sockets: from then on only the new accept.
        goodReloads++;
        await waitFor(() => shuttingDown() >= 2 * goodReloads, 10_000, `reload ${index + 1}: the old workers to quit`);
        inForce = want;
      } else {
        const emergs = (): number => (wsgate.errorLog().match(/\[emerg\]/g) ?? []).length;
        const before = emergs();
        await reloadTo(conf(a, "broken_directive on;"));
        await waitFor(() => emergs() > before, 10_000, "the broken configuration's emerg line");
        for (let i = 0; i < 5; i++) assert.equal(await newestBackend(), inForce, "a broken reload changes nothing");
      }
    }

    assert.deepEqual(await slow, { status: 200, body: "A /slow?delay=1500" });
    opening = false;
    await opener;
    await Promise.all(pumps.map((pump) => pump.finish()));

    assert.deepEqual(refused, [], "no connection attempt failed during the reloads");
    assert.ok(fresh.length > 10, `new connections were opened all along (${fresh.length})`);
    for (const pump of pumps) {
      assert.deepEqual(pump.errors, [], `tunnel ${pump.id}`);
      assert.ok(pump.received > 20, `tunnel ${pump.id} kept echoing (${pump.received})`);
      assert.equal(pump.backendName, "A", "an old tunnel stays with the backend it was opened to");
      pump.ws.close();
    }

    const log = wsgate.errorLog();
    assert.equal((log.match(/signal 1 \(SIGHUP\) received, reconfiguring/g) ?? []).length, 5);
    assert.match(log, /\[emerg\] \d+#\d+: unknown directive "broken_directive" in \S+nginx\.conf:\d+/);
    // 2 workers at start, 2 for each of the 4 good reloads; the broken one started none.
    assert.equal(startedWorkers(log).length, 10);
    assert.match(log, /\[notice\] \d+#\d+: gracefully shutting down/);
  });
});
