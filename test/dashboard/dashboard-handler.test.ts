/**
 * `wsgate_dashboard` in a running wsgate, over real sockets: the directive's
 * refusals, the page and its files (uPlot's exactly as installed), the
 * redirect to the page, nginx's 404 and 405, and the live feed — a snapshot
 * a second, following the server's figures, ended when its client leaves
 * (its access-log line written) and at a graceful shutdown (the last chunk
 * sent, QUIT not held up by it).
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import type { LocationConf } from "../../src/config/model.js";
import { ConfigError } from "../../src/core/errors.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { freePort, httpConf, ROOT, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { until, withTimeout } from "../support/wait.js";

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly body: Buffer;
}

function fetch(port: number, path: string, method = "GET"): Promise<Answer> {
  return withTimeout(
    new Promise<Answer>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    }),
    5000,
    `${method} ${path}`,
  );
}

/** The feed, read as events arrive: each `data:` line parsed, with when it came. */
class FeedReader {
  readonly events: Array<{ at: number; data: Record<string, unknown> }> = [];
  readonly response: Promise<IncomingMessage>;
  ended = false;
  private buffered = "";
  private readonly req;

  constructor(port: number, path: string) {
    this.req = request({ host: "127.0.0.1", port, path, agent: false });
    this.response = new Promise((resolve, reject) => {
      this.req.on("response", (res) => {
        res.setEncoding("utf8");
        res.on("data", (text: string) => this.read(text));
        res.on("end", () => (this.ended = true));
        res.on("error", () => undefined);
        resolve(res);
      });
      this.req.on("error", reject);
    });
    this.req.end();
  }

  private read(text: string): void {
    this.buffered += text;
    let end: number;
    while ((end = this.buffered.indexOf("\n\n")) >= 0) {
      const event = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 2);
      const data = /^data: (.*)$/m.exec(event)?.[1];
      if (data !== undefined) this.events.push({ at: Date.now(), data: JSON.parse(data) as Record<string, unknown> });
    }
  }

  async snapshots(count: number, ms = 5000): Promise<void> {
    await until(() => this.events.length >= count, ms, `${count} snapshots`);
  }

  leave(): void {
    this.req.destroy();
  }
}

function uplot(name: string): Buffer {
  return readFileSync(join(dirname(createRequire(import.meta.url).resolve("uplot")), name));
}

describe("wsgate_dashboard in the configuration", () => {
  let root: string;
  let counter = 0;
  before(() => (root = makeTempDir("dashboard-config")));
  after(() => removeTempDir(root));

  async function load(http: string) {
    const prefix = join(root, `case${++counter}`);
    writeTree(prefix, { "conf/nginx.conf": `events {}\nhttp {\n${http}\n}\n` });
    return loadConfig({ prefix, confFile: join(prefix, "conf/nginx.conf") });
  }

  const refusals: ReadonlyArray<readonly [string, string]> = [
    ["server { location / { wsgate_dashboard on; } }", `invalid number of arguments in "wsgate_dashboard" directive`],
    ["server { wsgate_dashboard; }", `"wsgate_dashboard" directive is not allowed here`],
    ["wsgate_dashboard;", `"wsgate_dashboard" directive is not allowed here`],
    ["server { location / { wsgate_dashboard;\nwsgate_dashboard; } }", `"wsgate_dashboard" directive is duplicate`],
  ];
  for (const [http, message] of refusals) {
    test(message, async () => {
      await assert.rejects(load(http), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(err.message.startsWith(message), err.message);
        return true;
      });
    });
  }

  test("set in its location only, not inherited by a nested one", async () => {
    const config = await load("server { location /d { wsgate_dashboard; location /d/x { } } location /e { } }");
    const [d, e] = config.http!.servers[0]!.locations as [LocationConf, LocationConf];
    assert.equal(d.dashboard, true);
    assert.equal(d.locations[0]!.dashboard, undefined);
    assert.equal(e.dashboard, undefined);
  });
});

describe("the dashboard served by wsgate", { timeout: 60_000 }, () => {
  let wsgate: WsgateProcess;
  let port: number;

  before(async () => {
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(`
        server {
          listen 127.0.0.1:${port};
          location /dashboard { wsgate_dashboard; }
          location /status { stub_status; }
          location / { return 200 "ok\\n"; }
        }`),
    });
  });
  after(async () => {
    await wsgate?.stop();
  });

  test("/dashboard redirects to the page, as nginx redirects to a directory", async () => {
    const answer = await fetch(port, "/dashboard?x=1");
    assert.equal(answer.status, 301);
    assert.equal(answer.headers.location, `http://127.0.0.1:${port}/dashboard/?x=1`);
  });

  test("the page, its files and uPlot's, whole", async () => {
    const page = await fetch(port, "/dashboard/");
    assert.equal(page.status, 200);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.deepEqual(page.body, readFileSync(join(ROOT, "dashboard", "index.html")));
    for (const [name, type, body] of [
      ["dashboard.js", "application/javascript; charset=utf-8", readFileSync(join(ROOT, "dashboard", "dashboard.js"))],
      ["dashboard.css", "text/css; charset=utf-8", readFileSync(join(ROOT, "dashboard", "dashboard.css"))],
      ["uPlot.iife.min.js", "application/javascript; charset=utf-8", uplot("uPlot.iife.min.js")],
      ["uPlot.min.css", "text/css; charset=utf-8", uplot("uPlot.min.css")],
    ] as const) {
      const answer = await fetch(port, `/dashboard/${name}`);
      assert.equal(answer.status, 200, name);
      assert.equal(answer.headers["content-type"], type, name);
      assert.equal(answer.headers["content-length"], String(body.length), name);
      assert.ok(answer.body.equals(body), name);
    }
    const head = await fetch(port, "/dashboard/uPlot.min.css", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], String(uplot("uPlot.min.css").length));
    assert.equal(head.body.length, 0);
  });

  test("404 for what it does not have, 405 for a method it does not serve", async () => {
    for (const path of ["/dashboard/index.html", "/dashboard/x/events", "/dashboard/nothing", "/dashboardx"]) {
      const answer = await fetch(port, path);
      assert.equal(answer.status, 404, path);
      assert.match(answer.body.toString(), /<title>404 Not Found<\/title>/);
    }
    // nginx's static module: POST finds out first whether there is anything, other methods are refused at once.
    assert.equal((await fetch(port, "/dashboard/nothing", "POST")).status, 404);
    assert.equal((await fetch(port, "/dashboard/", "POST")).status, 405);
    assert.equal((await fetch(port, "/dashboard/events", "POST")).status, 405);
    assert.equal((await fetch(port, "/dashboard/nothing", "PUT")).status, 405);
    assert.equal((await fetch(port, "/dashboard/", "DELETE")).status, 405);
  });

  test("the feed: a snapshot a second that follows the server's figures, ended when its client leaves", async () => {
    const feed = new FeedReader(port, "/dashboard/events");
    const response = await withTimeout(feed.response, 5000, "the feed's head");
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers["content-type"], "text/event-stream");
    assert.equal(response.headers["cache-control"], "no-cache");
    assert.equal(response.headers["transfer-encoding"], "chunked");
    await feed.snapshots(1);
    const first = feed.events[0]!.data as { connections: { requests: number; active: number } };
    assert.ok(first.connections.active >= 1, JSON.stringify(first));
    // Requests meanwhile show in a later snapshot.
    for (let i = 0; i < 5; i++) assert.equal((await fetch(port, "/")).status, 200);
    await feed.snapshots(4, 6000);
    const last = feed.events.at(-1)!.data as { connections: { requests: number }; time: number };
    assert.ok(last.connections.requests >= first.connections.requests + 5, JSON.stringify([first, last]));
    // A second apart (the timer's period; the first comes at once, so compare the later ones).
    const gaps = feed.events.slice(2).map((event, i) => event.at - feed.events[i + 1]!.at);
    for (const gap of gaps) assert.ok(gap > 600 && gap < 1600, `gaps ${gaps.join(", ")}`);
    assert.equal(feed.ended, false);
    feed.leave();
    // The feed ended: its request is logged.
    await until(() => /"GET \/dashboard\/events HTTP\/1.1" 200 /.test(wsgate.accessLog()), 5000, "the feed's log line");
    // The server still answers, and no other feed keeps a connection: stub_status sees only its own.
    const status = await fetch(port, "/status");
    assert.match(status.body.toString(), /^Active connections: 1 \n/);
  });

  test("HEAD on the feed: the head alone", async () => {
    const answer = await fetch(port, "/dashboard/events", "HEAD");
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["content-type"], "text/event-stream");
    assert.equal(answer.body.length, 0);
  });
});

describe("the feed at a graceful shutdown", { timeout: 30_000 }, () => {
  for (const [mode, main] of [
    ["with workers", ""],
    ["in one process (master_process off)", "master_process off;"],
  ] as const) {
    test(`${mode}: QUIT ends an open feed with its last chunk and wsgate exits`, async () => {
      const port = await freePort();
      const wsgate = await startWsgate({
        conf: httpConf(`server { listen 127.0.0.1:${port}; location /dashboard { wsgate_dashboard; } }`, main),
      });
      try {
        const feed = new FeedReader(port, "/dashboard/events");
        await withTimeout(feed.response, 5000, "the feed's head");
        await feed.snapshots(2);
        const exited = new Promise<number | null>((resolve) => wsgate.child.once("exit", (code) => resolve(code)));
        process.kill(wsgate.pid, "SIGQUIT");
        // The response ended as a chunked response ends (not cut), and the process is gone well before any timeout.
        await until(() => feed.ended, 5000, "the end of the feed");
        assert.equal(await withTimeout(exited, 5000, "wsgate's exit"), 0);
        assert.match(wsgate.accessLog(), /"GET \/dashboard\/events HTTP\/1.1" 200 /);
      } finally {
        await wsgate.stop();
      }
    });
  }
});
