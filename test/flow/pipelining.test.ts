/**
 * Keep-alive and pipelining through wsgate: requests written back to back on
 * one connection, with bodies (a large one that makes the proxy stop reading,
 * and a chunked one), are answered in order with every body intact.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { freePort, httpConf, startWsgate, type WsgateProcess } from "../support/proxy.js";

describe("keep-alive and pipelining", () => {
  let backend: Server;
  let wsgate: WsgateProcess;
  let port: number;

  before(async () => {
    backend = createServer((req, res) => {
      let length = 0;
      req.on("data", (chunk: Buffer) => (length += chunk.length));
      req.on("end", () => {
        const body = `path=${req.url ?? ""} len=${length}\n`;
        res.setHeader("Content-Length", body.length);
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const address = backend.address();
    assert.ok(address && typeof address === "object");
    port = await freePort();
    wsgate = await startWsgate({
      conf: httpConf(
        `client_max_body_size 10m; server { listen ${port}; location / { proxy_pass http://127.0.0.1:${address.port}; proxy_http_version 1.1; } }`,
      ),
    });
  });

  after(async () => {
    await wsgate?.stop();
    await new Promise((resolve) => backend?.close(resolve));
  });

  test("five pipelined requests, with a 5 MB body and a chunked one, come back in order", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 0x41);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`incomplete: ${text}`));
      }, 10_000);
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("end", () => {
        clearTimeout(timer);
        resolve(text);
      });
      socket.write("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n");
      socket.write(`POST /three HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.write(big);
      socket.write(
        "POST /four HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" +
          "GET /five HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
    });
    const bodies = reply.match(/path=\S+ len=\d+/g);
    assert.deepEqual(bodies, [
      "path=/one len=0",
      "path=/two len=0",
      `path=/three len=${big.length}`,
      "path=/four len=11",
      "path=/five len=0",
    ]);
    assert.equal(reply.match(/^HTTP\/1\.1 200 OK\r\n/gm)?.length, 5);
    const log = wsgate.accessLog();
    assert.deepEqual(
      log
        .trim()
        .split("\n")
        .map((line) => /"(\w+ \S+) HTTP\/1\.1" (\d+)/.exec(line)?.slice(1).join(" ")),
      ["GET /one 200", "GET /two 200", "POST /three 200", "POST /four 200", "GET /five 200"],
    );
  });
});
