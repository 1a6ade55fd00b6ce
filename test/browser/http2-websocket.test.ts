/**
 * `wss://` in a real browser over HTTP/2 (issue 13, RFC 8441): Debian's
 * Chromium loads a page from wsgate over https with HTTP/2, and the page's
 * script opens a WebSocket to the same origin, sends a message and shows the
 * upstream's echo. With `wsgate_http2_websocket on` the WebSocket travels as
 * an extended CONNECT stream of the page's own HTTP/2 connection (the access
 * log says "HTTP/2.0 h2 200 GET /ws HTTP/2.0" on the page's $connection);
 * with it off the same page still works, its WebSocket an HTTP/1.1 upgrade
 * on a connection of its own (101, HTTP/1.1). Either way the subprotocol the
 * page asks for reaches the upstream and the upstream's choice comes back.
 * Chromium needs no flag for RFC 8441: it uses it once the server's SETTINGS
 * carry ENABLE_CONNECT_PROTOCOL, and it does so on a connection whose
 * self-signed certificate it accepted under --ignore-certificate-errors.
 *
 * A screenshot of each page is kept in $TMPDIR/wsgate-browser/ (replaced on
 * every run) and its path printed.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECHO_PREFIX, header, startRecordingBackend, type RecordingBackend } from "../support/backend.js";
import { chromiumSkip, startChromium, type RunningChromium } from "../support/chromium.js";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";
import { makeCerts, opensslSkip, type TestCerts } from "../tls/certs.js";
import { until } from "../support/wait.js";

const MESSAGE = "hello from chromium";

/** Where the screenshots are kept (two files, replaced on every run). */
const ARTEFACTS = join(tmpdir(), "wsgate-browser");

/** The page: it opens wss:// to its own origin, sends MESSAGE, and shows what comes back in #echo. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>wsgate over HTTP/2</title></head>
<body>
<h1>wsgate: WebSocket over HTTP/2</h1>
<p>page loaded over: <span id="protocol"></span></p>
<p>state: <span id="state">loading</span></p>
<p>subprotocol: <span id="subprotocol"></span></p>
<p>echo: <span id="echo"></span></p>
<script>
  // The browser's own word for the page's protocol ("h2" for HTTP/2).
  document.getElementById("protocol").textContent = performance.getEntriesByType("navigation")[0].nextHopProtocol;
  const state = document.getElementById("state");
  const ws = new WebSocket("wss://" + location.host + "/ws", ["chat"]);
  ws.onopen = () => {
    document.getElementById("subprotocol").textContent = ws.protocol;
    state.textContent = "open";
    ws.send(${JSON.stringify(MESSAGE)});
  };
  ws.onmessage = (event) => {
    document.getElementById("echo").textContent = event.data;
    state.textContent = "echoed";
  };
  ws.onerror = () => { state.textContent = "error"; };
  ws.onclose = (event) => { if (state.textContent !== "echoed") state.textContent = "closed " + event.code; };
</script>
</body></html>
`;

const LOG_FORMAT = `log_format browser '$connection $server_protocol $http2 $status $request';`;

function conf(port: number, backend: number, certs: TestCerts, websocket: "on" | "off"): string {
  return httpConf(`
    ${LOG_FORMAT}
    upstream backend { server 127.0.0.1:${backend}; }
    server {
      listen 127.0.0.1:${port} ssl;
      http2 on;
      wsgate_http2_websocket ${websocket};
      ssl_certificate ${certs.bCrt};
      ssl_certificate_key ${certs.bKey};
      access_log logs/browser.log browser;
      root html;
      location /ws {
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
      }
    }`);
}

interface LogLine {
  readonly connection: string;
  readonly protocol: string;
  readonly http2: string;
  readonly status: string;
  readonly request: string;
}

function logLines(wsgate: WsgateProcess): LogLine[] {
  return wsgate
    .accessLog("browser.log")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [connection, protocol, http2, status, ...request] = line.split(" ");
      return {
        connection: connection!,
        protocol: protocol!,
        http2: http2!,
        status: status!,
        request: request.join(" "),
      };
    });
}

const skip = chromiumSkip() || opensslSkip();

describe("wss:// from Chromium over HTTP/2 (RFC 8441)", { skip, timeout: 120_000 }, () => {
  let certs: TestCerts;
  let backend: RecordingBackend;
  let browser: RunningChromium;

  before(async () => {
    certs = makeCerts();
    mkdirSync(ARTEFACTS, { recursive: true });
    backend = await startRecordingBackend();
    browser = await startChromium();
  });

  after(async () => {
    await browser?.close();
    await backend?.close();
    certs?.remove();
  });

  /** wsgate with `wsgate_http2_websocket` as given; the page loaded, its echo shown; the access log's lines. */
  async function visit(websocket: "on" | "off"): Promise<LogLine[]> {
    const port = await freePort();
    const wsgate = await startWsgate({
      conf: conf(port, backend.port, certs, websocket),
      files: { "html/index.html": PAGE },
    });
    const page = await browser.context.newPage();
    try {
      const response = await page.goto(`https://127.0.0.1:${port}/`, { timeout: 15_000 });
      assert.equal(response?.status(), 200);
      // Until the page's script is done: echoed, or an error or close it shows.
      const done = `!["loading", "open"].includes(document.getElementById("state").textContent)`;
      await page.waitForFunction(done, undefined, { timeout: 15_000 });
      const shown = await page.textContent("#echo", { timeout: 5000 });
      const state = await page.textContent("#state", { timeout: 5000 });
      const protocol = await page.textContent("#protocol", { timeout: 5000 });
      const subprotocol = await page.textContent("#subprotocol", { timeout: 5000 });
      const screenshot = join(ARTEFACTS, `http2-websocket-${websocket}.png`);
      await page.screenshot({ path: screenshot, timeout: 10_000 });
      console.log(`screenshot: ${screenshot}`);
      assert.equal(state, "echoed", `the page's WebSocket: ${state ?? ""}\n${wsgate.errorLog()}`);
      assert.equal(shown, `${ECHO_PREFIX}${MESSAGE}`);
      assert.equal(protocol, "h2", "Chromium loaded the page over HTTP/2");
      // The subprotocol the browser asked for reached the upstream, and its choice came back.
      assert.equal(subprotocol, "chat");
      assert.equal(header(backend.requests.at(-1)!, "sec-websocket-protocol"), "chat");
      await page.close({ runBeforeUnload: false });
      // The WebSocket's line is written when it closes (the page's closing ends it).
      await until(
        () => logLines(wsgate).some((line) => line.request.startsWith("GET /ws ")),
        10_000,
        "the /ws log line",
      );
      return logLines(wsgate);
    } finally {
      if (!page.isClosed()) await page.close().catch(() => undefined);
      // Fast shutdown: under "off" Chromium leaves an extra TLS connection open that never sends a request,
      // which a graceful shutdown waits for until client_header_timeout (nginx 1.22 waits the same).
      await wsgate.stop("SIGTERM");
    }
  }

  /** The page's log line (always over HTTP/2) and the WebSocket's, which must read `expected`. */
  async function pageAndSocket(
    mode: "on" | "off",
    expected: readonly [protocol: string, http2: string, status: string, request: string],
  ): Promise<{ page: string; socket: string }> {
    const lines = await visit(mode);
    const pageLine = lines.find((line) => line.request === "GET / HTTP/2.0");
    assert.ok(pageLine, `the page over HTTP/2:\n${JSON.stringify(lines)}`);
    assert.deepEqual([pageLine.protocol, pageLine.http2, pageLine.status], ["HTTP/2.0", "h2", "200"]);
    const ws = lines.find((line) => line.request.startsWith("GET /ws "));
    assert.deepEqual(ws && [ws.protocol, ws.http2, ws.status, ws.request], expected, JSON.stringify(lines));
    return { page: pageLine.connection, socket: ws!.connection };
  }

  test("wsgate_http2_websocket on: the page and its WebSocket on one HTTP/2 connection", async () => {
    const connections = await pageAndSocket("on", ["HTTP/2.0", "h2", "200", "GET /ws HTTP/2.0"]);
    // RFC 8441: the WebSocket is a stream of the page's connection, not a connection of its own.
    assert.equal(connections.socket, connections.page);
    // The upstream saw an ordinary HTTP/1.1 handshake.
    const handshake = backend.requests.at(-1)!;
    assert.equal(handshake.target, "/ws");
    assert.equal(handshake.version, "HTTP/1.1");
    assert.equal(header(handshake, "upgrade"), "websocket");
  });

  test("wsgate_http2_websocket off: the same page works, its WebSocket an HTTP/1.1 upgrade", async () => {
    const connections = await pageAndSocket("off", ["HTTP/1.1", "", "101", "GET /ws HTTP/1.1"]);
    assert.notEqual(connections.socket, connections.page);
  });
});
