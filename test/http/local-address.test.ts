/**
 * $server_addr and $server_port on each kind of listening socket: one on a
 * specific IPv4 address (its address is known without a getsockname()), a
 * wildcard, and a wildcard with a specific address on the same port served
 * through it (chosen by the connection's local address); for a request and
 * for a WebSocket tunnel, whose line is written after its sockets closed.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { connect, createServer, type Server } from "node:net";
import { freePorts, httpConf, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";

let wsgate: WsgateProcess;
let backend: Server;
let ports: number[];

/** Answers an upgrade with a 101, then echoes; a plain request gets a 200. */
function startBackend(): Promise<Server> {
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    socket.once("data", (head) => {
      if (/upgrade: websocket/i.test(head.toString("latin1"))) {
        socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        socket.pipe(socket);
      } else socket.end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  backend = await startBackend();
  const backendPort = (backend.address() as { port: number }).port;
  ports = await freePorts(3);
  const [specific, wildcard, shared] = ports;
  const location = `location / {
            proxy_pass http://127.0.0.1:${backendPort};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
        }`;
  wsgate = await startWsgate({
    conf: httpConf(`
    log_format addr '$server_name $server_addr:$server_port $status';
    access_log logs/addr.log addr;
    server { listen 127.0.0.1:${specific}; server_name specific; ${location} }
    server { listen ${wildcard}; server_name wildcard; ${location} }
    server { listen ${shared}; server_name shared-wildcard; ${location} }
    server { listen 127.0.0.1:${shared}; server_name shared-specific; ${location} }`),
  });
});

after(async () => {
  await wsgate?.stop();
  backend?.close();
});

/** One request (an upgrade when `upgrade`), read to the end of its head; then the connection is closed. */
function request(port: number, upgrade: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        socket.destroy();
        resolve(text.slice(0, text.indexOf("\r\n")));
      }
    });
    const headers = upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\n" : "Connection: close\r\n";
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
  });
}

describe("$server_addr and $server_port", () => {
  test("each listening socket's connections name the address and port they arrived on", async () => {
    const [specific, wildcard, shared] = ports as [number, number, number];
    const expected: string[] = [];
    for (const [port, name] of [
      [specific, "specific"],
      [wildcard, "wildcard"],
      [shared, "shared-specific"],
    ] as const) {
      assert.equal(await request(port, false), "HTTP/1.1 200 OK");
      expected.push(`${name} 127.0.0.1:${port} 200`);
      assert.equal(await request(port, true), "HTTP/1.1 101 Switching Protocols");
      expected.push(`${name} 127.0.0.1:${port} 101`);
    }
    await waitFor(() => wsgate.accessLog("addr.log").trim().split("\n").length >= expected.length, 5000, "log lines");
    assert.deepEqual(wsgate.accessLog("addr.log").trim().split("\n").sort(), expected.sort());
  });
});
