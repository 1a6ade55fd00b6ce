/**
 * Real-world configurations (test/realworld/cases/, see cases.ts): each
 * passes `wsgate -t` exactly when it passes `nginx -t` (the case records
 * nginx's answer, checked against Debian's nginx where it is installed, so
 * the suite holds wsgate to it on machines without nginx too), a failing one
 * with nginx's [emerg] line; one that uses a module outside wsgate's scope is
 * refused with a line naming the module. Those with WebSocket endpoints then
 * run under wsgate: an echo backend behind them answers a `ws` client (and
 * wscat, for Debian's stock files with the seed's), and their plain pages
 * answer with the status nginx gives.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { chmodSync, readFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { request } from "node:http";
import { join } from "node:path";
import { WebSocket, WebSocketServer } from "ws";
import { startEchoServer } from "../../src/examples/echo-server.js";
import { hasNginx, makeTempDir, nginxTest, removeTempDir } from "../support/config-files.js";
import { freePorts } from "../support/proxy.js";
import { ECHO_PREFIX } from "../support/backend.js";
import { until, withTimeout } from "../support/wait.js";
import { runWscat } from "../support/wscat.js";
import { emergText } from "../support/test-both.js";
import { connects, runCli, startCli, type Started } from "../cli/run-cli.js";
import { makeCerts, type TestCerts } from "../tls/certs.js";
import {
  fill,
  layOut,
  loadCases,
  missingModules,
  nginxPrefix,
  type HttpCheck,
  type Placeholders,
  type RealWorldCase,
  type WebSocketCheck,
} from "./cases.js";

const CASES = loadCases();

/** www-data where it exists (its group too, as `user NAME;` needs): Debian's own and the packages' stand-in. */
function unprivilegedUser(): string {
  const has = (file: string): boolean =>
    readFileSync(file, "latin1")
      .split("\n")
      .some((line) => line.startsWith("www-data:"));
  try {
    if (has("/etc/passwd") && has("/etc/group")) return "www-data";
  } catch {
    // not a Unix account database: fall through
  }
  return process.env["USER"] ?? "root";
}

interface LaidOut {
  readonly values: Placeholders;
  readonly prefix: string;
  readonly confFile: string;
  remove(): void;
}

async function lay(entry: RealWorldCase, backend?: number): Promise<LaidOut> {
  const root = makeTempDir("realworld");
  // Workers that switch to the configuration's user must reach the files of the tree.
  chmodSync(root, 0o755);
  const certs: TestCerts | undefined = entry.certs ? makeCerts() : undefined;
  const [port, port2, spare] = await freePorts(3);
  const values: Placeholders = {
    root,
    port: port!,
    port2: port2!,
    backend: backend ?? spare!,
    user: unprivilegedUser(),
    cert: certs?.aCrt ?? "",
    key: certs?.aKey ?? "",
  };
  layOut(entry, values);
  return {
    values,
    prefix: nginxPrefix(root),
    confFile: join(root, entry.conf),
    remove: () => {
      removeTempDir(root);
      certs?.remove();
    },
  };
}

describe("real-world configurations: wsgate -t passes exactly when nginx -t does", () => {
  for (const entry of CASES) {
    test(`${entry.name}: ${entry.shape}`, async (t) => {
      const laid = await lay(entry);
      try {
        const wsgate = await runCli(["-t", "-q", "-p", laid.prefix, "-c", laid.confFile]);
        if (entry.outOfScope !== undefined) {
          assert.notEqual(wsgate.code, 0, "wsgate accepted a module outside its scope");
          assert.match(wsgate.stderr, new RegExp(`unknown directive "${entry.outOfScope}_\\w+".*${entry.outOfScope}`));
        } else if (entry.nginxTest === "ok") {
          assert.equal(wsgate.code, 0, wsgate.stderr);
        } else {
          assert.notEqual(wsgate.code, 0, "wsgate accepted what nginx refuses");
          assert.equal(emergText(wsgate.stderr), fill(entry.emerg ?? "", laid.values));
        }
        if (!hasNginx()) return t.diagnostic("nginx is not installed: checked against the recorded answer only");
        const missing = missingModules(laid.values.root);
        if (missing.length > 0) return t.diagnostic(`nginx not compared: no ${missing.join(", ")} on this machine`);
        const nginx = nginxTest({ prefix: laid.prefix, confFile: laid.confFile })!;
        assert.equal(
          nginx.status === 0 ? "ok" : "fail",
          entry.nginxTest,
          `the case's record is wrong: ${nginx.stderr}`,
        );
        if (entry.nginxTest === "fail") assert.equal(emergText(nginx.stderr), fill(entry.emerg ?? "", laid.values));
      } finally {
        laid.remove();
      }
    });
  }
});

describe("real-world configurations with WebSocket endpoints proxy an echo through wsgate", () => {
  for (const entry of CASES.filter((c) => c.websocket !== undefined && c.nginxTest === "ok" && !c.outOfScope)) {
    describe(entry.name, () => {
      let laid: LaidOut;
      let backend: { port: number; close(): Promise<void> };
      let wsgate: Started;

      before(async () => {
        const [backendPort] = await freePorts(1);
        laid = await lay(entry, backendPort);
        // A TLS backend presents the case's certificate, the one its proxy_ssl_trusted_certificate names.
        const tls = entry.websocket!.some((check) => check.backendTls === true);
        backend = await startBackend(backendPort!, tls ? laid.values : undefined);
        wsgate = startCli(["-p", laid.prefix, "-c", laid.confFile, "-g", "daemon off;"]);
        const ports = new Set([...(entry.websocket ?? []), ...(entry.http ?? [])].map((check) => portOf(check)));
        for (const port of ports) {
          await until(
            async () => {
              if (wsgate.child.exitCode !== null) throw new Error(`wsgate exited: ${wsgate.stderr()}${errorLog()}`);
              return connects(port);
            },
            10_000,
            `wsgate listening on ${port}`,
          );
        }
      });

      after(async () => {
        if (wsgate && wsgate.child.exitCode === null) {
          wsgate.child.kill("SIGQUIT");
          await withTimeout(wsgate.exited, 10_000, "wsgate's exit").catch(() => wsgate.child.kill("SIGKILL"));
        }
        await backend?.close();
        laid?.remove();
      });

      const portOf = (check: WebSocketCheck | HttpCheck): number =>
        check.port === "PORT" ? laid.values.port : laid.values.port2;
      const errorLog = (): string => {
        try {
          return readFileSync(join(laid.values.root, "var", "log", "nginx", "error.log"), "latin1");
        } catch {
          return "";
        }
      };

      for (const check of entry.websocket ?? []) {
        test(`a ws client at ${check.path} gets the echo`, async () => {
          const message = `hello from ${entry.name}`;
          const reply = await echoThrough(portOf(check), check, message).catch((err: Error) => {
            throw new Error(`${err.message}\n${errorLog()}`);
          });
          assert.equal(reply, ECHO_PREFIX + message);
        });
      }
      if (entry.name === "debian-stock") {
        test("wscat through Debian's stock files and the seed's gets the echo", async () => {
          const run = await runWscat(`ws://127.0.0.1:${laid.values.port}`, "hello");
          assert.match(run.stdout + run.stderr, /Server received from client: hello/);
        });
      }
      for (const check of entry.http ?? []) {
        test(`GET ${check.path} answers ${check.status}`, async () => {
          assert.equal(await statusOf(portOf(check), check), check.status, errorLog());
        });
      }
    });
  }
});

/** The seed's echo backend, or the same over TLS with the case's certificate (for cases that proxy to https://). */
async function startBackend(
  port: number,
  tls: Pick<Placeholders, "cert" | "key"> | undefined,
): Promise<{ port: number; close(): Promise<void> }> {
  if (!tls) {
    const echo = await startEchoServer(port, "127.0.0.1");
    return { port, close: () => new Promise((resolve) => echo.close(() => resolve())) };
  }
  const server: HttpsServer = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket) => socket.on("message", (data) => socket.send(`${ECHO_PREFIX}${String(data)}`)));
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function echoThrough(port: number, check: WebSocketCheck, message: string): Promise<string> {
  const scheme = check.tls ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://127.0.0.1:${port}${check.path}`, {
    headers: check.host ? { Host: check.host } : {},
    rejectUnauthorized: false,
  });
  try {
    const reply = new Promise<string>((resolve, reject) => {
      socket.once("message", (data) => resolve(String(data)));
      socket.once("error", reject);
      socket.once("unexpected-response", (_request, response) =>
        reject(new Error(`the handshake got ${String(response.statusCode)}`)),
      );
    });
    socket.once("open", () => socket.send(message));
    return await withTimeout(reply, 5000, `the echo at ${check.path}`);
  } finally {
    socket.terminate();
  }
}

function statusOf(port: number, check: HttpCheck): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port, path: check.path, headers: check.host ? { Host: check.host } : {}, agent: false },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      req.once("error", reject);
      req.end();
    }),
    5000,
    `GET ${check.path}`,
  );
}
