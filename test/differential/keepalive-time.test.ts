/**
 * keepalive_time (ngx_http_core_module, nginx ≥ 1.19.10) against nginx: a
 * connection older than it, counted from its accept, is not kept after the
 * request in flight (ngx_http_update_location_config clears r->keepalive:
 * "Connection: close", then the close); a location with a longer one keeps
 * it. The directive at http, server and location level, and its errors, as
 * nginx -t gives them; the upstream block's keepalive_time is another row.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { skipWithoutNginx, startPeer } from "./peers.js";
import { hasWholeResponse } from "../support/sockets.js";
import { makeTempDir, removeTempDir, writeTree } from "../support/config-files.js";
import { expectNginxVerdicts } from "../support/test-both.js";

const skip = skipWithoutNginx();

const CONF = `
  keepalive_time 1s;
  server {
    listen PORT;
    location / { return 200 "short\\n"; }
    location /long { keepalive_time 1h; return 200 "long\\n"; }
  }`;

/** One kept connection: send a request, wait for its whole response (or the close), report what came. */
class Conversation {
  private data = Buffer.alloc(0);
  closed = false;
  private waiter: (() => void) | undefined;
  private readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("error", () => undefined);
    this.socket.on("data", (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.waiter?.();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  /** The response's status line and Connection header, and whether the connection closed after it. */
  async ask(path: string, closeExpected: boolean): Promise<string> {
    this.data = Buffer.alloc(0);
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
    const done = (): boolean => (closeExpected ? this.closed : hasWholeResponse(this.data) || this.closed);
    const deadline = Date.now() + 5000;
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
    const head = this.data.toString("latin1").split("\r\n\r\n")[0] ?? "";
    const status = head.split("\r\n")[0] ?? "";
    const connection = /\r\nconnection: *([^\r]*)/i.exec(head)?.[1] ?? "-";
    return `${status} | ${connection} | ${this.closed ? "closed" : "open"}`;
  }

  end(): void {
    this.socket.destroy();
  }
}

describe("differential: keepalive_time", { skip }, () => {
  test("a connection older than keepalive_time is closed after the request; a longer one keeps it", async () => {
    const seen: Record<string, string[]> = {};
    for (const name of ["nginx", "wsgate"] as const) {
      const peer = await startPeer(name, CONF);
      const steps: string[] = [];
      try {
        const short = new Conversation(peer.port);
        const long = new Conversation(peer.port);
        steps.push(await short.ask("/", false));
        steps.push(await long.ask("/long", false));
        await sleep(1300);
        steps.push(await long.ask("/long", false));
        steps.push(await short.ask("/", true));
        short.end();
        long.end();
      } finally {
        await peer.stop();
      }
      seen[name] = steps;
    }
    assert.deepEqual(seen.nginx, [
      "HTTP/1.1 200 OK | keep-alive | open",
      "HTTP/1.1 200 OK | keep-alive | open",
      "HTTP/1.1 200 OK | keep-alive | open",
      "HTTP/1.1 200 OK | close | closed",
    ]);
    assert.deepEqual(seen.wsgate, seen.nginx);
  });
});

describe("keepalive_time in the configuration", () => {
  let prefix: string;
  before(() => {
    prefix = makeTempDir("keepalive-time");
    writeTree(prefix, { "logs/.keep": "" });
  });
  after(() => removeTempDir(prefix));

  test("http, server, location and upstream accept it; nginx's errors otherwise", async () => {
    const cases: Array<[string, string | undefined]> = [
      [
        "keepalive_time 10m;\nupstream u { server 127.0.0.1:1; keepalive 2; keepalive_time 1h; }\n" +
          "server { listen 127.0.0.1:1; keepalive_time 30s; location / { keepalive_time 1; } }",
        undefined,
      ],
      ["keepalive_time;", `invalid number of arguments in "keepalive_time" directive in FILE:3`],
      ["keepalive_time 1s 2s;", `invalid number of arguments in "keepalive_time" directive in FILE:3`],
      ["keepalive_time abc;", `"keepalive_time" directive invalid value in FILE:3`],
      ["keepalive_time 1s;\nkeepalive_time 2s;", `"keepalive_time" directive is duplicate in FILE:4`],
      [
        "server { listen 127.0.0.1:1; location / { if ($host) { keepalive_time 1s; } } }",
        `"keepalive_time" directive is not allowed here in FILE:3`,
      ],
    ];
    await expectNginxVerdicts(prefix, cases);
  });
});
