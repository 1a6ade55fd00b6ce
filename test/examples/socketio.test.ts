/**
 * Socket.IO through wsgate with Socket.IO's own nginx configuration
 * (examples/socketio/nginx.conf): a socket.io-client starts with HTTP
 * long-polling and upgrades to WebSocket through the proxy; two servers
 * behind `hash $remote_addr consistent` (sticky by source address) share a
 * room through the Redis adapter; polling alone works, since every request
 * of a session reaches the server that created it; the address → server
 * mapping is nginx's; the `ip_hash` variant keeps 127.0.0.x on one server;
 * and the same file passes `nginx -t` and `wsgate -t`. The suite also runs
 * under nginx itself, so what it checks is nginx's behaviour. Redis, the
 * servers and the proxies are all started and stopped here, on loopback.
 */

import * as assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { redisMissing } from "../../examples/shared/redis-server.js";
import { runCli } from "../cli/run-cli.js";
import { nginxTest } from "../support/config-files.js";
import { nginxSkip, startNginx } from "../support/nginx.js";
import { freePort, waitFor } from "../support/proxy.js";
import {
  clientsOnEach,
  confPrefix,
  connectChat,
  socketIoConf,
  startSocketIoExample,
  within,
  type RunningSocketIoExample,
} from "./socketio-run.js";

const skip = redisMissing();

// The same tests under nginx show that what they check is nginx's behaviour too.
for (const proxy of ["wsgate", "nginx"] as const) {
  describe(
    `Socket.IO through ${proxy}, Socket.IO's nginx configuration`,
    { skip: skip || (proxy === "nginx" && nginxSkip()), timeout: 120_000 },
    () => {
      let example: RunningSocketIoExample;
      before(async () => {
        example = await startSocketIoExample("hash", proxy);
      });
      after(async () => {
        await example?.stop();
      });

      test(
        "each client address lands on the server nginx picks for it (hash $remote_addr consistent)",
        { skip: proxy === "nginx" ? "the comparison runs once, in the wsgate suite" : nginxSkip() },
        async () => {
          // nginx with the same upstream, on another listening port (the port is not part of the hash).
          const nginx = await startNginx({
            conf: socketIoConf({ ...example.ports, listen: await freePort() }),
            full: true,
          });
          try {
            const nginxUrl = `http://127.0.0.1:${nginx.ports[0]}`;
            const viaWsgate: string[] = [];
            const viaNginx: string[] = [];
            for (let host = 1; host <= 8; host++) {
              for (const [url, into] of [
                [example.url, viaWsgate],
                [nginxUrl, viaNginx],
              ] as const) {
                const client = await connectChat(url, `127.0.0.${host}`, ["polling"]);
                into.push(client.instance);
                client.close();
              }
            }
            assert.deepEqual(viaWsgate, viaNginx);
            assert.ok(viaWsgate.includes("a") && viaWsgate.includes("b"), viaWsgate.join(" "));
          } finally {
            await nginx.stop();
          }
        },
      );

      test("a client opens over long-polling and upgrades to WebSocket through the proxy", async () => {
        const client = await connectChat(example.url, "127.0.0.1");
        try {
          assert.equal(client.openedOver, "polling");
          const engine = client.socket.io.engine;
          const sid = engine.id;
          if (engine.transport.name !== "websocket") {
            await within(
              new Promise<void>((resolve) => engine.once("upgrade", () => resolve())),
              10_000,
              "the upgrade",
            );
          }
          assert.equal(engine.transport.name, "websocket");
          // The session still works over the upgraded transport.
          await client.join("upgrade-room");
          const echoed = client.nextMessage((message) => message.text === "over websocket");
          client.socket.emit("message", { room: "upgrade-room", text: "over websocket" });
          assert.equal((await echoed).instance, client.instance);
          client.close();
          // The WebSocket's line is logged when the tunnel closes.
          const upgraded = new RegExp(
            `"GET /socket\\.io/\\?EIO=4&transport=websocket&sid=${escape(sid)} HTTP/1\\.1" 101 `,
          );
          await waitFor(() => upgraded.test(example.proxy.accessLog()), 5000, "the 101 line");
          const log = example.proxy.accessLog();
          assert.match(log, /"GET \/socket\.io\/\?EIO=4&transport=polling&t=[^ ]+ HTTP\/1\.1" 200 /);
          // Neither the upgrade nor the tunnel's close is an error (the server closes first on a client's close).
          assert.doesNotMatch(example.proxy.errorLog(), /\[(error|crit|alert|emerg)\]/);
          assert.match(
            log,
            new RegExp(`"POST /socket\\.io/\\?EIO=4&transport=polling&t=[^ ]+&sid=${escape(sid)} HTTP/1\\.1" 200 `),
          );
        } finally {
          client.close();
        }
      });

      test("clients on different servers receive each other's room broadcasts through the Redis adapter", async (t) => {
        const clients = await clientsOnEach(example.url, ["a", "b"]);
        const a = clients.get("a")!;
        const b = clients.get("b")!;
        try {
          t.diagnostic(`client from ${a.address} is on server a, client from ${b.address} on server b`);
          assert.notEqual(a.address, b.address);
          assert.equal((await a.join("lobby")).instance, "a");
          assert.equal((await b.join("lobby")).instance, "b");
          const bHears = b.nextMessage((message) => message.text === "hello from a");
          a.socket.emit("message", { room: "lobby", text: "hello from a" });
          assert.deepEqual(await bHears, { room: "lobby", text: "hello from a", instance: "a" });
          const aHears = a.nextMessage((message) => message.text === "hello from b");
          b.socket.emit("message", { room: "lobby", text: "hello from b" });
          assert.deepEqual(await aHears, { room: "lobby", text: "hello from b", instance: "b" });
        } finally {
          a.close();
          b.close();
        }
      });

      test("with polling only, messages still flow: every request of a session reaches its server", async () => {
        const logStart = example.proxy.accessLog().length;
        const clients = await clientsOnEach(example.url, ["a", "b"], ["polling"]);
        const a = clients.get("a")!;
        const b = clients.get("b")!;
        try {
          await a.join("polling-room");
          await b.join("polling-room");
          for (let round = 0; round < 3; round++) {
            const bHears = b.nextMessage((message) => message.text === `a${round}`);
            const aHears = a.nextMessage((message) => message.text === `b${round}`);
            a.socket.emit("message", { room: "polling-room", text: `a${round}` });
            b.socket.emit("message", { room: "polling-room", text: `b${round}` });
            assert.equal((await bHears).instance, "a");
            assert.equal((await aHears).instance, "b");
          }
          assert.equal(a.socket.io.engine.transport.name, "polling");
          assert.equal(b.socket.io.engine.transport.name, "polling");
          assert.ok(a.socket.connected && b.socket.connected);
          const log = example.proxy.accessLog().slice(logStart);
          for (const client of [a, b]) {
            const sid = `sid=${client.socket.io.engine.id}`;
            const session = log.split("\n").filter((line) => line.includes(sid));
            assert.ok(session.filter((line) => line.includes("transport=polling")).length >= 4, log);
            // A request that reached the other server would be answered 400 "Session ID unknown".
            for (const line of session) assert.match(line, /transport=polling&t=[^ ]+ HTTP\/1\.1" 200 /);
          }
        } finally {
          a.close();
          b.close();
        }
      });
    },
  );
}

describe("the documentation's other sticky method, ip_hash", { skip, timeout: 120_000 }, () => {
  let example: RunningSocketIoExample;
  before(async () => {
    example = await startSocketIoExample("ip_hash");
  });
  after(async () => {
    await example?.stop();
  });

  test("keeps every 127.0.0.x client on one server; a client on the other server still shares the room", async (t) => {
    // ip_hash hashes the first three octets of an IPv4 address: 127.0.0.1 to .4 are one key.
    const clients = [];
    try {
      for (let host = 1; host <= 4; host++) clients.push(await connectChat(example.url, `127.0.0.${host}`));
      const instance = clients[0]!.instance;
      for (const client of clients) assert.equal(client.instance, instance);
      t.diagnostic(`127.0.0.1 to 127.0.0.4 are all on server ${instance}`);
      // The other server, reached directly: the room still spans both through Redis.
      const other = example.servers.find((server) => server.name !== instance)!;
      const direct = await connectChat(`http://127.0.0.1:${other.port}`, "127.0.0.1");
      clients.push(direct);
      assert.equal(direct.instance, other.name);
      await clients[0]!.join("ip-hash-room");
      await direct.join("ip-hash-room");
      const directHears = direct.nextMessage((message) => message.text === "through the proxy");
      clients[0]!.socket.emit("message", { room: "ip-hash-room", text: "through the proxy" });
      assert.equal((await directHears).instance, instance);
      const proxiedHears = clients[0]!.nextMessage((message) => message.text === "direct");
      direct.socket.emit("message", { room: "ip-hash-room", text: "direct" });
      assert.equal((await proxiedHears).instance, other.name);
    } finally {
      for (const client of clients) client.close();
    }
  });
});

describe("examples/socketio/nginx.conf passes nginx -t and wsgate -t", () => {
  const conf = socketIoConf({ listen: 3000, a: 3001, b: 3002 });

  test("nginx -t", { skip: nginxSkip() }, () => {
    const prefix = confPrefix(conf);
    try {
      const result = nginxTest({ prefix, confFile: "nginx.conf" });
      assert.equal(result?.status, 0, result?.stderr);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  test("wsgate -t", async () => {
    const prefix = confPrefix(conf);
    try {
      const result = await runCli(["-t", "-p", prefix + "/", "-c", "nginx.conf"]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stderr, /test is successful/);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
