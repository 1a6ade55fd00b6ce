/**
 * The page's script with every figure it can show: Chromium loads the
 * dashboard's own files from a small server of the test's that plays the
 * feed, sending snapshots made by the feed's own code (dashboardSnapshot)
 * from families counted in the test's registry — tunnels, messages, bytes,
 * handshakes, close codes, upstream peers up and down. The page must show
 * each as sent, and rates from the difference of two snapshots. (The
 * dashboard served by a running wsgate is tested in dashboard-browser.test.ts.)
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { MetricsRegistry } from "../../src/core/metrics.js";
import { dashboardSnapshot } from "../../src/static/dashboard-figures.js";
import { chromiumSkip, startChromium, type RunningChromium } from "../support/chromium.js";
import { ROOT } from "../support/proxy.js";
import { once } from "../support/wait.js";

const CONNECTIONS = { active: 7, accepted: 20, handled: 19, requests: 33, reading: 1, writing: 4, waiting: 2 };

/** A registry with the proxy's families, `messages` from clients counted so far. */
function registryWith(messages: number): MetricsRegistry {
  const registry = new MetricsRegistry();
  const family = (name: string, type: "counter" | "gauge", labels: string[] = []) =>
    registry.family({ name, help: name, type, labels });
  family("wsgate_websocket_connections", "gauge").series().value = 3;
  family("wsgate_websocket_upgrades_total", "counter", ["status"]).series("101").value = 5;
  const closes = family("wsgate_websocket_closes_total", "counter", ["code", "by"]);
  closes.series("1000", "client").value = 2;
  closes.series("1006", "upstream").value = 1;
  const direction = family("wsgate_websocket_messages_total", "counter", ["direction"]);
  direction.series("from_client").value = messages;
  direction.series("from_upstream").value = 41;
  family("wsgate_websocket_bytes_total", "counter", ["direction"]).series("from_client").value = 4096;
  const handshake = registry.family({
    name: "wsgate_websocket_handshake_seconds",
    help: "h",
    type: "histogram",
    buckets: [0.001, 0.01, 0.1],
  });
  handshake.series().observe(0.005);
  handshake.series().observe(0.005);
  const peer = ["upstream", "peer"];
  family("wsgate_upstream_requests_total", "counter", peer).series("chat", "10.0.0.1:80").value = 6;
  family("wsgate_upstream_tunnels", "gauge", peer).series("chat", "10.0.0.1:80").value = 3;
  family("wsgate_upstream_up", "gauge", peer).series("chat", "10.0.0.1:80").value = 1;
  family("wsgate_upstream_failures_total", "counter", peer).series("chat", "10.0.0.2:80").value = 4;
  family("wsgate_upstream_up", "gauge", peer).series("chat", "10.0.0.2:80").value = 0;
  return registry;
}

function event(messages: number, time: number): string {
  const snapshot = dashboardSnapshot({ connections: CONNECTIONS, metrics: registryWith(messages).snapshot() }, time);
  return `data: ${JSON.stringify(snapshot)}\n\n`;
}

const FILES: Record<string, [string, string]> = {
  "/d/": ["text/html", join(ROOT, "dashboard", "index.html")],
  "/d/dashboard.js": ["application/javascript", join(ROOT, "dashboard", "dashboard.js")],
  "/d/dashboard.css": ["text/css", join(ROOT, "dashboard", "dashboard.css")],
  "/d/uPlot.iife.min.js": [
    "application/javascript",
    join(dirname(createRequire(import.meta.url).resolve("uplot")), "uPlot.iife.min.js"),
  ],
  "/d/uPlot.min.css": ["text/css", join(dirname(createRequire(import.meta.url).resolve("uplot")), "uPlot.min.css")],
};

const skip = chromiumSkip();

describe("the dashboard's page shows every figure of the feed", { skip, timeout: 60_000 }, () => {
  let server: Server;
  let browser: RunningChromium;
  const feeds = new Set<ServerResponse>();

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === "/d/events") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        feeds.add(res);
        // Two snapshots two seconds apart: 40, then 60 messages from clients (10 a second).
        const now = Date.now();
        res.write(event(40, now - 2000));
        res.write(event(60, now));
        return;
      }
      const file = FILES[req.url ?? ""];
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": file[0] }).end(readFileSync(file[1]));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening", 5000);
    browser = await startChromium();
  });

  after(async () => {
    await browser?.close();
    for (const res of feeds) res.destroy();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  test("tunnels, messages and their rate, bytes, handshakes, close codes, peers", async () => {
    const page = await browser.context.newPage();
    try {
      const port = (server.address() as { port: number }).port;
      await page.goto(`http://127.0.0.1:${port}/d/`, { timeout: 15_000 });
      await page.waitForFunction(`document.getElementById("messages-in-total").textContent === "60"`, undefined, {
        timeout: 10_000,
      });
      const text = (id: string) => page.textContent(`#${id}`, { timeout: 5000 });
      assert.equal(await text("tunnels"), "3");
      assert.equal(await text("upgrades-total"), "5");
      assert.equal(await text("messages-in-rate"), "10");
      assert.equal(await text("messages-out-total"), "41");
      assert.equal(await text("bytes-in-total"), "4.0 KiB");
      // Both handshakes in (1 ms, 10 ms]: the median halfway into it (histogram_quantile's interpolation).
      assert.equal(await text("handshake-p50"), "5.50 ms");
      assert.equal(await text("conn-active"), "7");
      assert.equal(await text("conn-requests"), "33");
      const rows = async (id: string) =>
        (await page
          .locator(`#${id} tr`)
          .evaluateAll((trs) =>
            trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim())),
          )) as string[][];
      assert.deepEqual(await rows("closes"), [
        ["1000", "client", "2", ""],
        ["1006", "upstream", "1", ""],
      ]);
      assert.deepEqual(await rows("peers"), [
        ["chat", "10.0.0.1:80", "up", "3", "6", "0"],
        ["chat", "10.0.0.2:80", "down", "0", "0", "4"],
      ]);
    } finally {
      await page.close().catch(() => undefined);
    }
  });
});
