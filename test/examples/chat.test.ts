/**
 * examples/chat end to end with `ws` clients: Redis, two backend processes
 * and wsgate started by the example's own launcher on free loopback ports.
 * Users on different backends see each other's messages (Redis pub/sub);
 * a user joining gets the room's history; wsgate refuses a handshake without
 * a valid token (401) or from a foreign page (403) before any backend sees
 * it; and when a room's backend is killed its users reconnect through
 * wsgate to the live one and carry on, while the health check marks the
 * dead one down; restarted, it is marked up and takes handshakes again.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { redisMissing } from "../../examples/shared/redis-server.js";
import { startChat, type RunningChat } from "../../examples/chat/launch.js";
import { freePorts } from "../support/proxy.js";
import { until } from "../support/wait.js";
import { handshakeStatus, joinBackend, joinThroughWsgate, login, type ChatUser } from "./chat-client.js";

const skip = redisMissing();

describe("examples/chat with ws clients", { skip, timeout: 60_000 }, () => {
  let chat: RunningChat;
  const users: ChatUser[] = [];
  const track = (user: ChatUser): ChatUser => (users.push(user), user);

  before(async () => {
    const [port, a, b] = await freePorts(3);
    chat = await startChat({ port: port!, backendPorts: [a!, b!] });
  });
  after(async () => {
    for (const user of users) user.ws.terminate();
    await chat?.stop();
  });

  test("users on different backends see each other's messages; a newcomer gets the history", async () => {
    const ann = track(await joinThroughWsgate(chat.port, "ann", "lobby"));
    const other = chat.backends.find((b) => b.id !== ann.welcome.backend)!;
    // Bob reached the other backend by another route (a second wsgate, say): only Redis joins them.
    const bob = track(await joinBackend(other.port, "bob", "lobby"));
    assert.notEqual(bob.welcome.backend, ann.welcome.backend);

    ann.ws.send("hello from ann");
    const atBob = await bob.message("hello from ann");
    assert.equal(atBob.user, "ann");
    assert.equal(atBob.backend, ann.welcome.backend);
    bob.ws.send("hi ann, bob here");
    const atAnn = await ann.message("hi ann, bob here");
    assert.equal(atAnn.backend, other.id);
    await ann.message("hello from ann"); // her own message comes back through Redis too

    const cid = track(await joinThroughWsgate(chat.port, "cid", "lobby"));
    assert.deepEqual(
      cid.welcome.history.map((e) => `${e.user}: ${e.text}`),
      ["ann: hello from ann", "bob: hi ann, bob here"],
    );
    await until(() => ann.events.some((e) => e.type === "join" && e.user === "cid"), 5000, "cid's join at ann");

    // The tunnel's log line (written when it closes) names the backend wsgate chose for Ann.
    const annsBackend = chat.backends.find((b) => b.id === ann.welcome.backend)!;
    ann.ws.close();
    const line = new RegExp(`"GET /chat room=lobby" 101 upstream=127.0.0.1:${annsBackend.port} user=ann `);
    await until(() => line.test(chat.accessLog()), 5000, "ann's access log line");
  });

  test("a handshake without a valid token or from another page is refused by wsgate", async () => {
    const origin = { Origin: `http://127.0.0.1:${chat.port}` };
    const base = `ws://127.0.0.1:${chat.port}/chat?room=lobby`;
    assert.equal(await handshakeStatus(base, origin), 401);
    assert.equal(await handshakeStatus(`${base}&token=not.a.token`, origin), 401);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: "chat" })
      .setSubject("mallory")
      .setExpirationTime("5m")
      .sign(new Uint8Array(32).fill(7));
    assert.equal(await handshakeStatus(`${base}&token=${forged}`, origin), 401);
    // Signed with the example's own key (from the key file wsgate reads), but expired a minute ago.
    const jwks = JSON.parse(readFileSync(join(chat.runDir, "chat-keys.json"), "utf8")) as { keys: [{ k: string }] };
    const secret = Buffer.from(jwks.keys[0].k, "base64url");
    const sign = (exp: number): Promise<string> =>
      new SignJWT({})
        .setProtectedHeader({ alg: "HS256", kid: "chat" })
        .setSubject("old")
        .setExpirationTime(exp)
        .sign(secret);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await handshakeStatus(`${base}&token=${await sign(now - 60)}`, origin), 401);
    assert.equal(await handshakeStatus(`${base}&token=${await sign(now + 60)}`, origin), 101, "the same key, in time");
    const token = await login(chat.port, "eve");
    assert.equal(await handshakeStatus(`${base}&token=${token}`, { Origin: "http://evil.example" }), 403);
    assert.equal(await handshakeStatus(`${base}&token=${token}`, origin), 101);
    assert.doesNotMatch(chat.accessLog(), / 40[13] upstream=127/, "refused before any backend");
    assert.doesNotMatch(chat.accessLog(), /token|eyJ/, "no token in the access log");
  });

  test("a message over wsgate_max_message 4k closes the tunnel with 1009", async () => {
    const fay = track(await joinThroughWsgate(chat.port, "fay", "big"));
    const gus = track(await joinThroughWsgate(chat.port, "gus", "big"));
    fay.ws.send("x".repeat(4097));
    assert.equal(await fay.closed, 1009);
    // The backend publishes Fay's leave when her tunnel ends: had it got the message, it would come first.
    await until(() => gus.events.some((e) => e.type === "leave" && e.user === "fay"), 5000, "fay's leave");
    assert.ok(!gus.events.some((e) => e.type === "message"), "the backend never got the message");
  });

  test("a killed backend: its users reconnect through wsgate to the live one, the health check takes it out", async () => {
    const dan = track(await joinThroughWsgate(chat.port, "dan", "ops"));
    const eve = track(await joinThroughWsgate(chat.port, "eve", "ops"));
    assert.equal(eve.welcome.backend, dan.welcome.backend, "hash $arg_room: one room, one backend");
    dan.ws.send("before the crash");
    await eve.message("before the crash");

    const dead = chat.backends.find((b) => b.id === dan.welcome.backend)!;
    const live = chat.backends.find((b) => b.id !== dead.id)!;
    await dead.kill();
    await Promise.all([dan.closed, eve.closed]);

    const dan2 = track(await reconnect(chat.port, "dan", "ops"));
    const eve2 = track(await reconnect(chat.port, "eve", "ops"));
    assert.equal(dan2.welcome.backend, live.id);
    assert.equal(eve2.welcome.backend, live.id);
    assert.ok(
      dan2.welcome.history.some((e) => e.text === "before the crash"),
      "history survives in Redis",
    );
    eve2.ws.send("after the crash");
    await dan2.message("after the crash");

    await until(
      () => chat.errorLog().includes(`upstream server 127.0.0.1:${dead.port} in upstream "chat" is down`),
      10_000,
      "the health check's line",
    );

    // Back on its feet: two passed checks bring it back, and a new room may land on it again.
    await dead.restart();
    await until(
      () =>
        chat
          .errorLog()
          .includes(`upstream server 127.0.0.1:${dead.port} in upstream "chat" is up after 2 passed checks`),
      10_000,
      "the health check's line for its return",
    );
    // Its passive failures (max_fails=1, fail_timeout=10s, nginx's defaults) from the reconnects may still
    // hold it out for a while after the checks pass: wait for fail_timeout to run out.
    const back = await until(
      async () => {
        for (let i = 0; i < 20; i++) {
          const user = await joinThroughWsgate(chat.port, "gil", `room-${i}`);
          user.ws.terminate();
          if (user.welcome.backend === dead.id) return user;
        }
        return undefined;
      },
      15_000,
      "a room's handshake reaching the restarted backend",
      500,
    );
    assert.ok(back, "some room's handshake reached the restarted backend");
  });
});

/** What the page does: retry with backoff (bounded) until a handshake succeeds. */
async function reconnect(port: number, name: string, room: string): Promise<ChatUser> {
  let wait = 100;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await joinThroughWsgate(port, name, room);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 2000);
    }
  }
}
