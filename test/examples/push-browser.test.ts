/**
 * examples/push in a real browser: Debian's Chromium loads the example's
 * page from wsgate (html/index.html), the page subscribes to its topic over
 * WebSocket, and a notification published over HTTP through wsgate (from the
 * test, not the page) appears on it. A second page on the other backend
 * publishes with its own form, and both pages show that notification too.
 * Screenshots go to $TMPDIR/wsgate-browser/ (replaced on every run); set
 * PUSH_SCREENSHOT to also write the first page's there (how
 * examples/push/screenshot.png was made).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { redisMissing } from "../../examples/shared/redis-server.js";
import { startPushCluster, type PushCluster } from "../../examples/push/cluster.js";
import { chromiumSkip, startChromium, type RunningChromium } from "../support/chromium.js";

const ARTEFACTS = join(tmpdir(), "wsgate-browser");

async function openPage(browser: RunningChromium, cluster: PushCluster, topic: string): Promise<Page> {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 760, height: 420 });
  const response = await page.goto(`${cluster.url}/?topic=${topic}`, { timeout: 15_000 });
  assert.equal(response?.status(), 200);
  await page.waitForFunction(
    `document.getElementById("state").textContent === "subscribed" && document.getElementById("backend").textContent !== "?"`,
    undefined,
    { timeout: 15_000 },
  );
  return page;
}

function shown(page: Page): Promise<string[]> {
  return page.$$eval("li.notification", (items) => items.map((item) => item.textContent ?? ""));
}

describe("examples/push in Chromium", { skip: chromiumSkip() || redisMissing(), timeout: 120_000 }, () => {
  let cluster: PushCluster;
  let browser: RunningChromium;

  before(async () => {
    mkdirSync(ARTEFACTS, { recursive: true });
    cluster = await startPushCluster();
    browser = await startChromium();
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  test("a page receives a push published over HTTP through wsgate", async () => {
    const page = await openPage(browser, cluster, "news");
    const response = await fetch(`${cluster.url}/publish`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ topic: "news", message: "Deploy finished: v1.4.2 is live" }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(response.status, 202, await response.text());
    await page.waitForSelector("li.notification", { timeout: 10_000 });
    const items = await shown(page);
    assert.equal(items.length, 1);
    assert.match(items[0]!, /^Deploy finished: v1\.4\.2 is live {2}published via backend-\d, delivered by backend-\d$/);
    const backend = await page.textContent("#backend");
    assert.ok(items[0]!.endsWith(`delivered by ${backend ?? ""}`), items[0]);

    // A second page, until one lands on the other backend (least_conn per worker).
    const others: Page[] = [];
    let other: Page | undefined;
    while (other === undefined) {
      assert.ok(others.length < 6, "every page on the same backend");
      const candidate = await openPage(browser, cluster, "news");
      others.push(candidate);
      if ((await candidate.textContent("#backend")) !== backend) other = candidate;
    }
    // The second page publishes with its own form (fetch POST /publish through wsgate).
    await other.fill("#message", "Maintenance window at 02:00 UTC");
    await other.click("button");
    for (const each of [page, other]) {
      await each.waitForFunction(
        `document.querySelectorAll("li.notification").length === ${each === page ? 2 : 1}`,
        undefined,
        {
          timeout: 10_000,
        },
      );
      assert.match((await shown(each))[0]!, /^Maintenance window at 02:00 UTC {2}published via backend-\d/);
    }
    const screenshot = join(ARTEFACTS, "push.png");
    // A page in the background does not paint: the first one in front for its screenshot.
    await page.bringToFront();
    await page.screenshot({ path: screenshot, timeout: 10_000 });
    console.log(`screenshot: ${screenshot}`);
    if (process.env["PUSH_SCREENSHOT"]) copyFileSync(screenshot, process.env["PUSH_SCREENSHOT"]);
    for (const each of [page, ...others]) await each.close({ runBeforeUnload: false });
  });
});
