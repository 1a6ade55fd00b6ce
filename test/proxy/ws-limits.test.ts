/**
 * wsgate_max_message, wsgate_message_rate and the protocol checks they turn
 * on, with raw peers on both sides: the sender gets its close code (1009,
 * 1008, 1002), the other side 1001, and no byte of the offending frame
 * reaches the other side; the same bytes pass untouched where no feature is
 * on.
 */

import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { freePort, startWsgate, waitFor, type WsgateProcess } from "../support/proxy.js";
import { withTimeout } from "../support/wait.js";
import {
  clientFrame,
  closePayload,
  featureConf,
  rawBackend,
  rawClient,
  serverFrame,
  type RawBackend,
  type RawPeer,
} from "./ws-peers.js";

interface Tunnel {
  readonly client: RawPeer;
  readonly upstream: RawPeer;
}

describe("WebSocket message limits and protocol checks", () => {
  let backend: RawBackend;
  const running: WsgateProcess[] = [];
  const ports = new Map<string, number>();

  before(async () => {
    backend = await rawBackend();
  });
  after(async () => {
    for (const wsgate of running) await wsgate.stop();
    await backend.close();
  });

  /** wsgate with `features` in its location (one process per set of features). */
  async function gate(features: string): Promise<{ port: number; wsgate: WsgateProcess }> {
    let port = ports.get(features);
    if (port === undefined) {
      port = await freePort();
      running.push(await startWsgate({ conf: featureConf(port, backend.port, features) }));
      ports.set(features, port);
    }
    return { port, wsgate: running[[...ports.keys()].indexOf(features)]! };
  }

  async function tunnel(features: string): Promise<Tunnel> {
    const { port } = await gate(features);
    const count = backend.peers.length;
    const client = await rawClient(port);
    await waitFor(() => backend.peers.length > count, 5000, "the tunnel at the backend");
    return { client, upstream: backend.peers[count]! };
  }

  /** `offender` got `code`, the other side 1001; each answers, and both sockets close. */
  async function closedWith(t: Tunnel, offender: "client" | "upstream", code: number): Promise<void> {
    const [bad, good] = offender === "client" ? [t.client, t.upstream] : [t.upstream, t.client];
    const toBad = await bad.got.next(8, 5000);
    const toGood = await good.got.next(8, 5000);
    assert.equal(toBad.payload.readUInt16BE(0), code, `${offender} gets ${code}`);
    assert.equal(toGood.payload.readUInt16BE(0), 1001, "the other side gets 1001");
    assert.equal(toBad.masked, offender === "upstream", "masked to the upstream only");
    // Both answer: the sockets end at once, well before the 3 s wait.
    t.client.socket.write(clientFrame(8, closePayload(1000)));
    t.upstream.socket.write(serverFrame(8, closePayload(1000)));
    await withTimeout(Promise.all([t.client.closed, t.upstream.closed]), 2500, "both sockets closed");
  }

  const texts = (peer: RawPeer): string[] =>
    peer.got.frames.filter((f) => f.opcode === 1 || f.opcode === 0).map((f) => f.payload.toString());

  test("a single frame over wsgate_max_message: 1009 to the sender, 1001 to the backend, which never sees it", async () => {
    const t = await tunnel("wsgate_max_message 1k;");
    const big = "x".repeat(1025);
    t.client.socket.write(Buffer.concat([clientFrame(1, "small"), clientFrame(1, big), clientFrame(1, "after")]));
    await closedWith(t, "client", 1009);
    assert.deepEqual(texts(t.upstream), ["small"], "the message before passed, nothing of the large one or after");
    assert.ok(!t.upstream.got.raw.includes(Buffer.from("xxxx")), "no byte of the large payload");
    const { wsgate } = await gate("wsgate_max_message 1k;");
    await waitFor(() => /too large WebSocket message/.test(wsgate.errorLog()), 3000, "the log line");
    assert.match(
      wsgate.errorLog(),
      /\[info\] .*client sent too large WebSocket message: 1025 bytes while proxying upgraded connection, client: 127\.0\.0\.1/,
    );
  });

  test("a fragmented message crossing the limit: the fragments before it passed, the crossing one is cut at its header", async () => {
    const t = await tunnel("wsgate_max_message 1k;");
    const part = "y".repeat(600);
    t.client.socket.write(clientFrame(1, part, false));
    await t.upstream.got.next(1, 3000);
    // The second fragment's header comes in a chunk of its own: held, never sent.
    const second = clientFrame(0, "z".repeat(600), true);
    t.client.socket.write(second.subarray(0, 3));
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.client.socket.write(second.subarray(3));
    await closedWith(t, "client", 1009);
    assert.deepEqual(texts(t.upstream), [part]);
    assert.ok(!t.upstream.got.raw.includes(Buffer.from("zz")));
    const close = t.upstream.got.frames.find((f) => f.opcode === 8)!;
    assert.equal(t.upstream.got.frames.indexOf(close), 1, "the close frame follows the first fragment directly");
  });

  test("an upstream's message over the limit: 1009 to the upstream, 1001 to the client", async () => {
    const t = await tunnel("wsgate_max_message 100;");
    t.upstream.socket.write(
      Buffer.concat([serverFrame(2, Buffer.alloc(100, 1)), serverFrame(2, Buffer.alloc(101, 2))]),
    );
    await closedWith(t, "upstream", 1009);
    assert.equal(t.client.got.frames.filter((f) => f.opcode === 2).length, 1, "only the message at the limit");
  });

  test("a burst over wsgate_message_rate: 1008 to the client, 1001 to the upstream, logged at error", async () => {
    const t = await tunnel("wsgate_message_rate 2r/s burst=3;");
    const burst = Array.from({ length: 10 }, (_, i) => clientFrame(1, `m${i}`));
    t.client.socket.write(Buffer.concat(burst));
    await closedWith(t, "client", 1008);
    // limit_req's count: the first message sets the bucket, three more fill the burst, the fifth is over.
    assert.deepEqual(texts(t.upstream), ["m0", "m1", "m2", "m3"]);
    const { wsgate } = await gate("wsgate_message_rate 2r/s burst=3;");
    await waitFor(() => /limiting WebSocket messages/.test(wsgate.errorLog()), 3000, "the log line");
    assert.match(
      wsgate.errorLog(),
      /\[error\] \d+#\d+: \*\d+ limiting WebSocket messages, excess: 4\.000 while proxying upgraded connection, client: 127\.0\.0\.1/,
    );
  });

  test("messages within the rate pass: 20r/s, one message each 100 ms", async () => {
    const t = await tunnel("wsgate_message_rate 20r/s;");
    for (let i = 0; i < 5; i++) {
      t.client.socket.write(clientFrame(1, `slow${i}`));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitFor(() => texts(t.upstream).length === 5, 3000, "five messages at the backend");
    assert.equal(t.client.got.frames.length, 0, "no close frame");
    t.client.socket.destroy();
  });

  const violations: Array<[string, "client" | "upstream", () => Buffer]> = [
    ["a control frame over 125 bytes", "client", () => clientFrame(9, Buffer.alloc(126))],
    ["a fragmented control frame", "client", () => clientFrame(9, "p", false)],
    ["reserved opcode 3", "client", () => clientFrame(3, "r")],
    ["reserved opcode 11", "client", () => clientFrame(11, "r")],
    ["a continuation outside a message", "client", () => clientFrame(0, "c")],
    [
      "a new message inside a fragmented one",
      "client",
      () => Buffer.concat([clientFrame(1, "a", false), clientFrame(1, "b")]),
    ],
    ["an unmasked frame from the client", "client", () => serverFrame(1, "u")],
    ["a masked frame from the upstream", "upstream", () => clientFrame(1, "m")],
  ];

  for (const [what, offender, bytes] of violations) {
    test(`${what}: 1002 to the ${offender}, 1001 to the other side; the same bytes pass untouched without a feature`, async () => {
      const t = await tunnel("wsgate_max_message 1m;");
      const [from, to] = offender === "client" ? [t.client, t.upstream] : [t.upstream, t.client];
      from.socket.write(bytes());
      await closedWith(t, offender, 1002);
      assert.equal(to.got.frames.filter((f) => f.opcode !== 8).length, what.includes("inside") ? 1 : 0);

      const plain = await tunnel("");
      const [plainFrom, plainTo] =
        offender === "client" ? [plain.client, plain.upstream] : [plain.upstream, plain.client];
      const sent = bytes();
      plainFrom.socket.write(sent);
      await waitFor(() => plainTo.got.raw.length >= sent.length, 3000, "the bytes through a plain tunnel");
      assert.deepEqual(plainTo.got.raw, sent);
      plain.client.socket.destroy();
    });
  }
});
