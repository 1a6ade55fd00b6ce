/**
 * The SNI name read from a ClientHello: the name a real client sends, none
 * without one, and no exception for any cut or corrupted hello.
 */

import { test } from "node:test";
import * as assert from "node:assert/strict";
import { createServer } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { clientHelloServerName } from "../../src/http/client-hello.js";

/** The first bytes Node's TLS client sends, caught by a plain TCP server. */
async function helloBytes(servername: string | undefined): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address && typeof address === "object");
  const caught = new Promise<Buffer>((resolve) =>
    server.once("connection", (socket) => socket.once("data", (chunk: Buffer) => resolve(chunk))),
  );
  const client = tlsConnect({ host: "127.0.0.1", port: address.port, ...(servername ? { servername } : {}) });
  client.on("error", () => undefined);
  const timer = setTimeout(() => client.destroy(), 5000);
  const bytes = await caught;
  clearTimeout(timer);
  client.destroy();
  server.close();
  return bytes;
}

test("the name a client sends, and none without one", async () => {
  assert.equal(clientHelloServerName(await helloBytes("Chat.Example.com")), "Chat.Example.com");
  assert.equal(clientHelloServerName(await helloBytes(undefined)), undefined);
});

test("cut or corrupted hellos give a name or undefined, never an exception", async () => {
  const hello = await helloBytes("a.test");
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let cut = 0; cut <= hello.length; cut++) {
    const name = clientHelloServerName(hello.subarray(0, cut));
    assert.ok(name === undefined || name === "a.test", `cut at ${cut}: ${String(name)}`);
  }
  for (let i = 0; i < 2000; i++) {
    const copy = Buffer.from(hello);
    for (let j = 0; j < 4; j++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
    const name = clientHelloServerName(copy);
    assert.ok(name === undefined || typeof name === "string");
  }
  assert.equal(clientHelloServerName(Buffer.from("GET / HTTP/1.1\r\n\r\n")), undefined);
});
