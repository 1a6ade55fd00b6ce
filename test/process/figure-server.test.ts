/**
 * The master's gathering of the server's figures (src/process/figure-server.ts),
 * with workers that answer, answer late or never, and exit.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { FigureServer } from "../../src/process/figure-server.js";
import { NO_CONNECTIONS, sumFigures, type ProcessFigures } from "../../src/http/server-figures.js";
import type { ToWorker } from "../../src/process/ipc.js";
import type { Worker } from "../../src/process/worker-process.js";

interface FakeWorker {
  readonly worker: Worker;
  readonly sent: ToWorker[];
}

function fakeWorker(): FakeWorker {
  const sent: ToWorker[] = [];
  const child = { connected: true, send: (message: ToWorker) => sent.push(message) };
  return { worker: { child } as unknown as Worker, sent };
}

function figures(active: number, accepted: number): ProcessFigures {
  return {
    connections: { ...NO_CONNECTIONS, active, accepted, handled: accepted, requests: accepted, writing: active },
    metrics: [
      { spec: { name: "t_total", help: "t", type: "counter" }, series: [{ labels: [], value: accepted }] },
      { spec: { name: "t_open", help: "o", type: "gauge" }, series: [{ labels: [], value: active }] },
    ],
  };
}

const MASTER: ProcessFigures = { connections: NO_CONNECTIONS, metrics: [] };

function asked(fake: FakeWorker): number {
  const ask = fake.sent.filter((message) => message.wsgate === "figures-ask").at(-1);
  assert.ok(ask && ask.wsgate === "figures-ask");
  return ask.id;
}

describe("the master gathers the server's figures", () => {
  test("every other worker answers: the sum is exact, and the asker's own are kept", async () => {
    const [a, b, c] = [fakeWorker(), fakeWorker(), fakeWorker()];
    const server = new FigureServer(
      () => [a.worker, b.worker, c.worker],
      () => MASTER,
      1000,
    );
    server.serve(a.worker, 7, figures(1, 1));
    assert.equal(a.sent.length, 0, "the asker is not asked");
    server.received(b.worker, { wsgate: "figures-own", id: asked(b), figures: figures(2, 10) });
    server.received(c.worker, { wsgate: "figures-own", id: asked(c), figures: figures(3, 20) });
    await new Promise((resolve) => setImmediate(resolve));
    const answer = a.sent[0];
    assert.ok(answer?.wsgate === "figures-answer" && answer.id === 7);
    assert.deepEqual(sumFigures(answer.figures).connections, { ...NO_CONNECTIONS, ...conn(5, 30) });
    // b asks next: a's own figures from its request are in.
    const all = await gatherWith(server, b, [c]);
    assert.equal(sumFigures(all).connections.accepted, 21);
  });

  test("a worker that does not answer in time is counted from the last figures it sent", async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    const server = new FigureServer(
      () => [a.worker, b.worker],
      () => MASTER,
      50,
    );
    server.received(b.worker, { wsgate: "figures-own", id: 0, figures: figures(4, 9) });
    const started = Date.now();
    const all = await server.gather(a.worker);
    assert.ok(Date.now() - started >= 40, "waited for the answer");
    assert.deepEqual(sumFigures(all).connections, { ...NO_CONNECTIONS, ...conn(4, 9) });
  });

  test("a worker that exits leaves its counters, not its gauges; what it sends later is ignored", async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    const workers = new Set([a.worker, b.worker]);
    const server = new FigureServer(
      () => workers,
      () => MASTER,
      1000,
    );
    server.received(b.worker, { wsgate: "figures-own", id: 0, figures: figures(4, 9) });
    const pending = server.gather(a.worker);
    workers.delete(b.worker);
    server.retire(b.worker);
    const all = await pending;
    assert.deepEqual(sumFigures(all).connections, { ...NO_CONNECTIONS, accepted: 9, handled: 9, requests: 9 });
    const metrics = new Map(sumFigures(all).metrics.map((family) => [family.spec.name, family.series[0]!.value]));
    assert.deepEqual([...metrics], [["t_total", 9]]);
    server.received(b.worker, { wsgate: "figures-own", id: 0, figures: figures(1, 100) });
    server.retire(b.worker);
    assert.equal(sumFigures(await server.gather()).connections.accepted, 9, "retired once");
  });
});

function conn(active: number, accepted: number): object {
  return { active, accepted, handled: accepted, requests: accepted, writing: active };
}

async function gatherWith(server: FigureServer, asker: FakeWorker, others: FakeWorker[]): Promise<ProcessFigures[]> {
  const pending = server.gather(asker.worker);
  for (const other of others)
    server.received(other.worker, { wsgate: "figures-own", id: asked(other), figures: figures(3, 20) });
  return pending;
}
