/**
 * The dashboard in a real browser: Debian's Chromium (test/support/chromium.ts)
 * loads `/dashboard/` from wsgate at a laptop's viewport (1280×800) and a
 * phone's (390×844). Real traffic goes through the same wsgate meanwhile —
 * WebSocket tunnels through a proxied location to a `ws` echo backend,
 * messages both ways, plain HTTP requests — and the page, never reloaded,
 * must show it within seconds, then follow more traffic (more requests,
 * tunnels closed). wsgate runs two workers, so the figures are the whole
 * server's, summed through the master: the connection counters stub_status
 * shows, and the WebSocket families (a dashboard location makes every
 * tunnel count its messages) — the upgrades, open tunnels and messages shown
 * must be the exchange's exactly.
 *
 * Screenshots are kept in $TMPDIR/wsgate-browser/ (replaced on every run)
 * and their paths printed; with WSGATE_DOCS_SCREENSHOT=1 the laptop's also
 * replaces docs/dashboard.png, the README's picture.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { WebSocket, WebSocketServer } from "ws";
import { chromiumSkip, startChromium, type RunningChromium } from "../support/chromium.js";
import { freePort, httpConf, ROOT, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { once, withTimeout } from "../support/wait.js";

const ARTEFACTS = join(tmpdir(), "wsgate-browser");
const TUNNELS = 4;
const MESSAGES = 5;

function conf(port: number, backend: number): string {
  return httpConf(
    `
    server {
      listen 127.0.0.1:${port};
      location /dashboard { wsgate_dashboard; }
      location /ws {
        proxy_pass http://127.0.0.1:${backend};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
      }
      location / { return 200 "ok\\n"; }
    }`,
    // Two workers: the page shows the whole server's figures, summed through the master.
    "worker_processes 2;",
  );
}

function get(port: number, path: string): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      });
      req.on("error", reject);
      req.end();
    }),
    5000,
    `GET ${path}`,
  );
}

async function requests(port: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) assert.equal(await get(port, `/page${i}`), 200);
}

/** A tunnel through wsgate to the echo backend, with `count` messages sent and their echoes received. */
async function tunnel(port: number, count: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  ws.on("error", () => undefined);
  await once(ws, "open", 5000);
  for (let i = 0; i < count; i++) {
    const echoed = once(ws, "message", 5000);
    ws.send(`message ${i}`);
    await echoed;
  }
  return ws;
}

async function closeTunnel(ws: WebSocket): Promise<void> {
  const closed = once(ws, "close", 5000);
  ws.close(1000);
  await closed;
}

/** A figure of the page as a number (the element's text). */
async function figure(page: Page, id: string): Promise<number> {
  return Number(await page.textContent(`#${id}`, { timeout: 5000 }));
}

/** Until the page shows `id` satisfying `test` (as the page updates itself; never reloaded). */
async function shows(page: Page, id: string, test: string, what: string): Promise<void> {
  const expression = `(() => { const n = Number(document.getElementById(${JSON.stringify(id)}).textContent); return ${test}; })()`;
  await page.waitForFunction(expression, undefined, { timeout: 10_000 }).catch((err: unknown) => {
    throw new Error(`the page did not show ${what}: ${String(err)}`);
  });
}

/** Two frames: what the page drew after a change (a resize) is on screen. */
const FRAMES = `new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))`;

/**
 * The whole page as an artefact (the viewport made as tall as the page first: a full-page
 * capture over CDP lays the page out without its scroll bar but clips it with one), and
 * with WSGATE_DOCS_SCREENSHOT=1 the laptop's first screen as docs/dashboard.png.
 */
async function screenshots(page: Page, name: string, viewport: { width: number; height: number }): Promise<void> {
  if (name === "laptop" && process.env["WSGATE_DOCS_SCREENSHOT"] === "1") {
    const first = join(ARTEFACTS, "dashboard-laptop-screen.png");
    await page.screenshot({ path: first, timeout: 10_000 });
    copyFileSync(first, join(ROOT, "docs", "dashboard.png"));
  }
  const height = Number(await page.evaluate("document.documentElement.scrollHeight"));
  await page.setViewportSize({ width: viewport.width, height });
  await page.evaluate(FRAMES);
  const path = join(ARTEFACTS, `dashboard-${name}.png`);
  await page.screenshot({ path, timeout: 10_000 });
  console.log(`screenshot: ${path}`);
  await page.setViewportSize(viewport);
  await page.evaluate(FRAMES);
}

const skip = chromiumSkip();

describe("the dashboard in Chromium", { skip, timeout: 180_000 }, () => {
  let browser: RunningChromium;
  let backend: WebSocketServer;
  let backendPort: number;

  before(async () => {
    mkdirSync(ARTEFACTS, { recursive: true });
    backend = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    backend.on("connection", (ws) => {
      ws.on("error", () => undefined);
      ws.on("message", (data, binary) => ws.send(data, { binary }));
    });
    await once(backend, "listening", 5000);
    backendPort = (backend.address() as { port: number }).port;
    browser = await startChromium();
  });

  after(async () => {
    await browser?.close();
    for (const client of backend?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
  });

  /** A fresh wsgate, the page at the viewport, traffic, and what the page shows of it. */
  async function visit(name: string, viewport: { width: number; height: number }): Promise<void> {
    const port = await freePort();
    const wsgate: WsgateProcess = await startWsgate({ conf: conf(port, backendPort) });
    const page = await browser.context.newPage();
    const open: WebSocket[] = [];
    try {
      await page.setViewportSize(viewport);
      const response = await page.goto(`http://127.0.0.1:${port}/dashboard/`, { timeout: 15_000 });
      assert.equal(response?.status(), 200);
      await page.waitForFunction(`document.getElementById("state").textContent === "live"`, undefined, {
        timeout: 10_000,
      });
      // Six uPlot charts drawn.
      assert.equal(await page.locator(".uplot canvas").count(), 6);
      const requestsBefore = await figure(page, "conn-requests");
      const activeBefore = await figure(page, "conn-active");

      // Traffic: tunnels with messages both ways, plain requests.
      for (let i = 0; i < TUNNELS; i++) open.push(await tunnel(port, MESSAGES));
      await requests(port, 10);
      // The tunnels are active connections; the upgrades and the requests are requests.
      await shows(page, "conn-active", `n >= ${activeBefore + TUNNELS}`, `${TUNNELS} more active connections`);
      await shows(page, "conn-requests", `n >= ${requestsBefore + TUNNELS + 10}`, "the requests");
      // The proxy counts WebSocket traffic (a dashboard location makes every tunnel count): the exchange exactly.
      await shows(page, "upgrades-total", `n === ${TUNNELS}`, `${TUNNELS} upgrades`);
      await shows(page, "tunnels", `n === ${TUNNELS}`, `${TUNNELS} open tunnels`);
      await shows(page, "messages-in-total", `n === ${TUNNELS * MESSAGES}`, "the messages from clients");
      await shows(page, "messages-out-total", `n === ${TUNNELS * MESSAGES}`, "the messages from the upstream");
      await screenshots(page, name, viewport);

      // More traffic, still no reload: the page follows.
      const requestsNow = await figure(page, "conn-requests");
      await requests(port, 7);
      await shows(page, "conn-requests", `n >= ${requestsNow + 7}`, "the later requests");
      const activeNow = await figure(page, "conn-active");
      await closeTunnel(open.pop()!);
      await closeTunnel(open.pop()!);
      await shows(page, "conn-active", `n <= ${activeNow - 2}`, "two tunnels fewer");
      await shows(page, "tunnels", `n === ${TUNNELS - 2}`, "two open tunnels fewer");

      // Nothing wider than the screen: the grid folds to the viewport.
      const overflow = await page.evaluate(`document.documentElement.scrollWidth - window.innerWidth`);
      assert.ok(Number(overflow) <= 0, `the page is ${String(overflow)} px wider than the ${name}'s screen`);
      const widths = (await page.evaluate(
        `[...document.querySelectorAll(".uplot")].map((chart) => chart.getBoundingClientRect().width)`,
      )) as number[];
      for (const width of widths) assert.ok(width > 150 && width <= viewport.width, `chart width ${width}`);
      const tops = (await page.evaluate(
        `[...document.querySelectorAll(".chart")].slice(0, 2).map((chart) => chart.getBoundingClientRect().top)`,
      )) as number[];
      if (name === "laptop") assert.equal(tops[0], tops[1], "two charts side by side");
      else assert.ok(tops[1]! > tops[0]!, "one chart under the other");

      // A narrower window: the charts are redrawn to their containers.
      await page.setViewportSize({ width: Math.round(viewport.width * 0.7), height: viewport.height });
      await page.waitForFunction(
        `document.querySelector(".uplot").getBoundingClientRect().width < ${widths[0]! - 20}`,
        undefined,
        { timeout: 5000 },
      );
    } finally {
      for (const ws of open) ws.terminate();
      await page.close().catch(() => undefined);
      await wsgate.stop();
    }
  }

  test("at a laptop's viewport (1280×800): live figures, charts side by side", async () => {
    await visit("laptop", { width: 1280, height: 800 });
  });

  test("at a phone's viewport (390×844): the same, in one column", async () => {
    await visit("phone", { width: 390, height: 844 });
  });
});
